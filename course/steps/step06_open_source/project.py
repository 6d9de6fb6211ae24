"""The sample project of the forge (deep dive 06b): ``pagekit``, its contributor documents and its issues.

``pagekit`` paginates JSON API results. Its first release has the bug of issue #1 (``page_count`` counts a
page too many when the items fill the last page exactly); :data:`LINKS` is another contributor's change that
lands on upstream while the learner's pull request waits (and has a bug of its own, for a bug report).
:data:`FILES` is the first commit's tree; :data:`SECURITY` and :data:`BUG_TEMPLATE` come in the second.
"""

from __future__ import annotations

MAINTAINER = ("Maya Maintainer", "maya@pagekit.example")
TYPES = ("feat", "fix", "docs", "test", "refactor", "perf", "build", "ci", "chore", "style", "revert")

# --- the project: pagekit --------------------------------------------------------------------------------

PAGES = '''\
"""Split a result set into pages: how many there are, and which items are on one."""


def page_count(total: int, per_page: int) -> int:
    """How many pages `total` items fill, `per_page` to a page; a last, partly filled page counts."""
    if per_page < 1:
        raise ValueError("per_page must be at least 1")
    return total // per_page + 1


def page_slice(items: list, page: int, per_page: int) -> list:
    """The items on page `page`; pages are numbered from 1."""
    start = (page - 1) * per_page
    return items[start:start + per_page]
'''

LINKS = '''

def page_links(page: int, pages: int) -> dict:
    """The previous and next page numbers of `page` out of `pages`, for an API's links; the first page has
    no "prev" key and the last page no "next" key."""
    links = {}
    if page > 1:
        links["prev"] = page - 1
    if page <= pages:
        links["next"] = page + 1
    return links
'''

TESTS = '''\
import pytest

from pagekit import page_count, page_slice


def test_a_partly_filled_last_page_counts():
    assert page_count(25, 10) == 3


def test_per_page_must_be_positive():
    with pytest.raises(ValueError):
        page_count(10, 0)


def test_the_second_page():
    assert page_slice(list(range(25)), 2, 10) == list(range(10, 20))
'''

LINK_TESTS = '''\
from pagekit.pages import page_links


def test_the_first_page_has_no_prev():
    assert page_links(1, 3) == {"next": 2}


def test_a_middle_page_has_both():
    assert page_links(2, 3) == {"prev": 1, "next": 3}
'''

CONTRIBUTING = """\
# Contributing to pagekit

1. Pick an issue: open, labelled `good first issue`, and not assigned to anyone. Say in it that you take it.
2. Fork, clone your fork, add this repository as the remote `upstream`, and branch from `upstream/main`.
3. Add a test that fails without your fix, then fix. Push your branch to your fork and open a pull request.
4. Commit messages: a header `type(scope): summary` (types: {types}; the summary starts in lower case,
   has no full stop, and the header is at most 72 characters), a blank line, then why. The commit that
   fixes an issue says `Fixes #N` in its body.
5. Sign off every commit (`git commit -s`): the `Signed-off-by:` line, with your name and e-mail as the
   commit's author, certifies the Developer Certificate of Origin (https://developercertificate.org).
6. Answer review with `git commit --fixup=<commit>` and `git rebase -i --autosquash upstream/main`: the
   history we merge has one commit per logical change, no `fixup!` commits and no merge commits. When
   `main` moves on, rebase onto `upstream/main` (never merge it into your branch) and push with
   `--force-with-lease`.
""".format(types=", ".join(TYPES))

SECURITY = """\
# Security policy

Please do **not** report a security problem in a public issue or pull request: everyone could read it
before a fix exists.

Report it privately instead, by e-mail to security@pagekit.example (or with the forge's private
vulnerability reporting, where it has one). Say which version or commit is affected, how to reproduce it,
and what an attacker could do with it. We confirm within three working days, agree a disclosure date with
you, and credit you in the release notes unless you ask us not to.

Supported versions: the latest release (0.3.x) and `main`.
"""

BUG_TEMPLATE = """\
---
name: Bug report
labels: bug
---
## Summary
<one sentence: what is wrong>

## Steps to reproduce
<the smallest code that shows it, in a ```python block that runs as it is>

## Expected behaviour
<what should happen, and why you expect it (the docs, a test, an issue)>

## Actual behaviour
<what happens instead: the exact output or traceback, copied from the run>

## Environment
<pagekit version or commit (git rev-parse --short HEAD), Python version, operating system>
"""

FILES = {
    "README.md": "# pagekit\n\nPagination helpers for JSON APIs: `page_count`, `page_slice`.\n\n"
                 "Run the tests with `python -m pytest`.\n",
    "CONTRIBUTING.md": CONTRIBUTING,
    "LICENSE": "SPDX-License-Identifier: MIT\n\nCopyright (c) 2024 The pagekit authors.\n",
    "CHANGELOG.md": "# Changelog\n\n## [Unreleased]\n\n## [0.3.0]\n- page_slice()\n",
    "pyproject.toml": '[project]\nname = "pagekit"\nversion = "0.3.0"\n\n[tool.pytest.ini_options]\n'
                      'testpaths = ["tests"]\n',
    "pagekit/__init__.py": '"""pagekit: pagination helpers for JSON APIs."""\n\n'
                           'from pagekit.pages import page_count, page_slice\n\n__version__ = "0.3.0"\n'
                           '__all__ = ["page_count", "page_slice"]\n',
    "pagekit/pages.py": PAGES,
    "tests/test_pages.py": TESTS,
}

ISSUES = [
    (1, "page_count() counts one page too many when the items fill the last page exactly",
     "bug, good first issue", "open", "",
     "`page_count(20, 10)` returns 3, but 20 items at 10 a page fill 2 pages; `page_count(0, 10)` returns 1\n"
     "where an empty result has 0 pages. The API then links to an empty last page."),
    (2, "page_slice() accepts page 0 and negative pages", "bug, good first issue", "open", "sam-smith",
     "`page_slice(items, -1, 10)` returns items from the end of the list. It should raise ValueError."),
    (3, "The README's example still uses the old name paginate()", "documentation, good first issue",
     "closed", "", "Fixed in 0.3.0."),
    (4, "Cursor-based pagination for large tables", "enhancement, help wanted", "open", "",
     "Offsets get slow on big tables; keyset (cursor) pagination would not. Needs a design first."),
]
