"""course.steps.step06_open_source.forge on real git: the CI hook (refuses failing pushes and shows why), the
scripted reviewer (each rule on a real branch), pull requests and merges; and exercise 06b graded on
plausible answers (wrong ones lose marks, other correct ones keep them all).

The hook runs real pytest on every pushed branch (about half a second a push): the tests keep pushes few.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from factories import assert_judged

from course.steps import step06_open_source as gitrepo
from course.steps.step06_open_source import forge as forges
from course.steps.step06_open_source import project

pytestmark = pytest.mark.service  # real git and real pytest; never skipped in CI

SIGNED = "\n\nSigned-off-by: Lee Learner <lee@example.org>"
TEST = "\n\ndef test_full_pages():\n    assert page_count(20, 10) == 2\n"
FIXED = project.PAGES.replace("total // per_page + 1", "-(-total // per_page)")


@pytest.fixture
def forge(tmp_path):
    made = forges.create_forge(tmp_path / "forge")
    yield made
    made.close()


def learner(forge, tmp_path, branch="fix/pages") -> gitrepo.Repo:
    work = gitrepo.clone(forge.fork_url, tmp_path / "work", name="Lee Learner", email="lee@example.org")
    work.git("remote", "add", "upstream", forge.upstream_url)
    work.git("fetch", "--quiet", "upstream")
    work.git("switch", "--quiet", "--create", branch, "upstream/main")
    return work


def test_the_forge_is_two_bare_repositories_with_the_hook_and_a_stale_fork(forge):
    for name in ("upstream", "fork"):
        bare = forge.root / f"{name}.git"
        assert gitrepo.git("rev-parse", "--is-bare-repository", cwd=bare).strip() == "true"
        hook = bare / "hooks" / "pre-receive"
        assert hook.stat().st_mode & 0o111 and f"pre-receive {forge.root} {name}" in hook.read_text()
    assert forge.head("fork") == forge.fork_base != forge.upstream_base == forge.head("upstream")
    assert gitrepo.git("rev-parse", f"{forge.upstream_base}~1", cwd=forge.upstream).strip() == forge.fork_base
    assert gitrepo.git("config", "receive.denyNonFastForwards", cwd=forge.upstream).strip() == "true"
    assert [(i.number, i.state, i.assignee) for i in forge.issues()] == [
        (1, "open", ""), (2, "open", "sam-smith"), (3, "closed", ""), (4, "open", "")]
    issue = forge.issues()[0]
    assert forges.Issue.parse(issue.text()) == issue and "good first issue" in issue.labels


def test_the_hook_refuses_a_failing_push_shows_why_and_accepts_the_fix(forge, tmp_path):
    work = learner(forge, tmp_path)
    work.commit("test(pages): full pages" + SIGNED, {"tests/test_pages.py": project.TESTS + TEST})
    refused = work.run("push", "origin", "fix/pages")
    assert refused.returncode != 0 and "pre-receive hook declined" in refused.stderr
    assert "remote: FAILED tests/test_pages.py::test_full_pages" in refused.stderr  # pytest's own output
    assert "REFUSED (the tests fail)" in refused.stderr and forge.head("fork", "fix/pages") == ""
    work.commit("fix(pages): count full pages once\n\nFixes #1" + SIGNED, {"pagekit/pages.py": FIXED})
    accepted = work.run("push", "origin", "fix/pages")
    assert accepted.returncode == 0 and "4 passed" in accepted.stderr
    assert forge.head("fork", "fix/pages") == work.head()
    log = forge.pushes("fork", "fix/pages")
    assert [(p.accepted, p.failed, p.summary) for p in log] == [
        (False, ["tests/test_pages.py::test_full_pages"], "1 failed, 3 passed"), (True, [], "4 passed")]
    assert log[1].old == forges.ZERO and log[1].new == work.head()


def test_upstream_refuses_learners_and_rewrites_and_lets_tags_and_deletions_pass(forge, tmp_path):
    work = learner(forge, tmp_path)
    work.commit("docs: more words" + SIGNED, {"README.md": "# pagekit\n\nMore words.\n"})
    direct = work.run("push", "upstream", "HEAD:main")
    assert direct.returncode != 0 and "only maintainers push to upstream" in direct.stderr
    assert forge.head() == forge.upstream_base
    rewrite = work.run("push", "--force", "upstream", f"{forge.fork_base}:main", env={"FORGE_ROLE": "maintainer"})
    assert rewrite.returncode != 0 and forge.head() == forge.upstream_base  # receive.denyNonFastForwards
    work.git("tag", "v9")
    assert work.run("push", "origin", "v9").returncode == 0  # a tag: no tests run (deletions: the next test)
    # git runs pre-receive first (the maintainer's tests pass), then refuses the rewrite by its own config
    assert [(p.repo, p.accepted) for p in forge.pushes()] == [("upstream", False), ("upstream", True)]


def test_pre_receive_judges_updates_in_process(forge, monkeypatch):
    monkeypatch.delenv("FORGE_ROLE", raising=False)
    update = [(forge.fork_base, forge.upstream_base, "refs/heads/main")]
    assert forges.pre_receive(forge.root, "upstream", update) == 1
    assert forges.pre_receive(forge.root, "fork", [(forge.fork_base, forges.ZERO, "refs/heads/x")]) == 0
    assert [p.accepted for p in forge.pushes()] == [False]
    done = subprocess.run([sys.executable, "-m", "course.steps.step06_open_source.forge"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 2 and "usage" in done.stderr


# --- the reviewer, rule by rule, on real branches (no pushes) ---------------------------------------------

def _branch(repo: gitrepo.Repo, name: str, commits) -> str:
    repo.git("switch", "--quiet", "--create", name, "main")
    for message, files in commits:
        repo.commit(message, files, allow_empty=not files)
    repo.git("switch", "--quiet", "main")
    return name


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """A repository of pagekit with one branch per case; {case: rules the reviewer raised}."""
    repo = gitrepo.init_repo(tmp_path_factory.mktemp("review"), name="Lee Learner", email="lee@example.org")
    repo.commit("feat: pagekit", dict(project.FILES))
    test = ("test(pages): full pages" + SIGNED, {"tests/test_pages.py": project.TESTS + TEST})
    fix = ("fix(pages): count full pages once\n\nFixes #1" + SIGNED, {"pagekit/pages.py": FIXED})
    cases = {
        "clean": [test, fix],
        "closes-in-another-spelling": [test, (fix[0].replace("Fixes", "closes"), fix[1])],
        "a print in a test is fine": [("test(pages): show" + SIGNED, {"tests/test_pages.py": project.TESTS + TEST
                                                                       + "    print('debugging')\n"}), fix],
        "fixup left": [test, fix, ("fixup! fix(pages): count full pages once", {"README.md": "x\n"})],
        "no type": [test, ("Count full pages once\n\nFixes #1" + SIGNED, fix[1])],
        "capital summary": [test, ("fix(pages): Count full pages\n\nFixes #1" + SIGNED, fix[1])],
        "full stop": [test, ("fix(pages): count full pages.\n\nFixes #1" + SIGNED, fix[1])],
        "too long": [test, ("fix(pages): " + "a" * 70 + "\n\nFixes #1" + SIGNED, fix[1])],
        "no blank line": [test, ("fix(pages): count full pages once\nFixes #1" + SIGNED, fix[1])],
        "no sign-off": [test, ("fix(pages): count full pages once\n\nFixes #1", fix[1])],
        "signed as someone else": [test, (fix[0].replace("lee@example.org", "lee@elsewhere.org"), fix[1])],
        "no test": [fix],
        "debug print": [test, (fix[0], {"pagekit/pages.py": FIXED.replace(
            "    return -(", "    print(total, per_page)\n    return -(")})],
        "breakpoint": [test, (fix[0], {"pagekit/pages.py": FIXED + "\nbreakpoint()\n"})],
        "no issue": [test, ("fix(pages): count full pages once" + SIGNED, fix[1])],
        "closed issue": [test, (fix[0].replace("#1", "#3"), fix[1])],
        "unknown issue": [test, (fix[0].replace("#1", "#99"), fix[1])],
    }
    for case, commits in cases.items():
        _branch(repo, case.replace(" ", "-"), commits)
    issues = {n: forges.Issue(n, t, labels.split(", "), s, a, b) for n, t, labels, s, a, b in project.ISSUES}
    found = {case: forges.review_range(repo.path, "main", case.replace(" ", "-"), issues) for case in cases}
    repo.git("switch", "--quiet", "--create", "merged", "clean")
    repo.git("switch", "--quiet", "main")
    main = repo.commit("docs: readme" + SIGNED, {"README.md": "# pagekit\n"})
    repo.git("switch", "--quiet", "merged")
    repo.git("merge", "--quiet", "--no-edit", main)
    repo.git("switch", "--quiet", "main")
    found["merged"] = forges.review_range(repo.path, "main", "merged", issues)
    found["stale base"] = forges.review_range(repo.path, "main", "clean", issues)
    found["empty"] = forges.review_range(repo.path, "main", "main", issues)
    return found


EXPECTED = {
    "clean": set(), "closes-in-another-spelling": set(), "a print in a test is fine": set(),
    "fixup left": {"fixup"}, "no type": {"format"}, "capital summary": {"format"}, "full stop": {"format"},
    "too long": {"format"}, "no blank line": {"format"}, "no sign-off": {"sign-off"},
    "signed as someone else": {"sign-off"}, "no test": {"test"}, "debug print": {"debug"},
    "breakpoint": {"debug"}, "no issue": {"issue"}, "closed issue": {"issue"}, "unknown issue": {"issue"},
    "merged": {"merge"}, "stale base": {"base"}, "empty": {"empty"},
}


@pytest.mark.parametrize("case", list(EXPECTED))
def test_the_reviewer_raises_exactly_the_rule_a_branch_breaks(reviewed, case):
    assert {c.rule for c in reviewed[case]} == EXPECTED[case], [str(c) for c in reviewed[case]]


def test_review_comments_point_at_the_line_and_say_what_to_do(reviewed):
    (debug,) = reviewed["debug print"]
    assert (debug.path, debug.line) == ("pagekit/pages.py", 8) and "print(total, per_page)" in debug.message
    assert "pagekit/pages.py:8" in str(debug)
    (stale,) = reviewed["stale base"]
    assert "1 commit(s) your branch lacks" in stale.message and "rebase upstream/main" in stale.message
    assert "signed off as Lee Learner <lee@elsewhere.org>" in reviewed["signed as someone else"][0].message
    assert "#3 is closed" in str(reviewed["closed issue"][0])
    assert str(forges.Review("abc1234", [])).endswith("approved, nothing to change")


# --- pull requests and merges --------------------------------------------------------------------------

def test_merge_refuses_while_the_reviewer_objects_and_lands_by_fast_forward(forge, tmp_path):
    work = learner(forge, tmp_path)
    with pytest.raises(LookupError, match="push it first"):
        forge.open_pull_request("fix/pages", "too early")
    work.commit("test(pages): full pages" + SIGNED, {"tests/test_pages.py": project.TESTS + TEST})
    work.commit("fix(pages): count full pages once" + SIGNED, {"pagekit/pages.py": FIXED})  # no Fixes #1
    assert work.run("push", "origin", "fix/pages").returncode == 0
    number = forge.open_pull_request("fix/pages", "Fix page_count")
    assert number == 5  # issues and pull requests share their numbers, as on GitHub
    refused = forge.merge(number)
    assert not refused.merged and "[issue]" in str(refused) and forge.head() == forge.upstream_base
    work.git("commit", "--quiet", "--amend", "--message", "fix(pages): count full pages once\n\nFixes #1" + SIGNED)
    assert work.run("push", "--force-with-lease", "origin", "fix/pages").returncode == 0
    landed = forge.merge(number)
    assert landed.merged and str(landed) == "merged" and forge.head() == work.head()
    assert gitrepo.git("rev-parse", f"refs/pull/{number}/head", cwd=forge.upstream).strip() == work.head()
    assert forge.pull_request(number)["state"] == "merged" and len(forge.pull_request(number)["reviews"]) == 2
    assert [i.state for i in forge.issues()][:2] == ["closed", "open"]
    assert forge.pushes("upstream", "main")[-1].accepted
    assert str(forge.merge(number)) == "not merged: pull request #5 is merged"
    with pytest.raises(LookupError, match="no pull request #9"):
        forge.review(9)


def test_move_upstream_lands_a_tested_change_through_the_hook(forge):
    moved = forge.move_upstream()
    assert forge.head() == moved and gitrepo.git("rev-parse", f"{moved}~1", cwd=forge.upstream).strip() == \
        forge.upstream_base
    assert forge.pushes("upstream", "main")[-1].summary == "5 passed"
    space = {}
    exec(gitrepo.git("show", "main:pagekit/pages.py", cwd=forge.upstream), space)
    assert space["page_links"](3, 3) == {"prev": 2, "next": 4}  # the bug Part F of the exercise reports


def test_report_sections_reads_the_templates_headings():
    sections = forges.report_sections(project.BUG_TEMPLATE)
    assert list(sections) == ["summary", "steps to reproduce", "expected behaviour", "actual behaviour",
                              "environment"]
    assert forges.report_sections("intro\n## Summary\n  text \n##  Steps\n") == {"summary": "text", "steps": ""}


# --- exercise 06b graded: plausible answers --------------------------------------------------------------
# The solution runs once, in this process, cell by cell; before each answer cell the forge and the clone are
# copied (a snapshot: real repositories, their remote URLs and hooks pointed at the copy). Each variant starts
# from a copy of its part's snapshot, runs instead of that part's answer, and then that part's test cells
# (hidden tests included): its pushes are its own, the parts before it are not run again.
# Each wrong answer must fail at least one test cell of its part; each other correct answer must fail none.
# The answers, by part:
# - fork: ISSUE 2 (assigned), ISSUE 3 (closed), a branch from origin/main or from the fork's main (stale), no
#   `upstream` remote (fetching the URL); right: checkout -b, branch + switch, remote add -f.
# - test_first: a test that passes on the bug, the test and the fix in one commit, no sign-off, a header out of
#   format, a test file that cannot be imported; right: a parametrized test method of a class in a new file.
# - fix: no `Fixes #1`, `Fixes #2`, a wrong fix the CI refuses, a capitalised summary, no push before the pull
#   request; right: math.ceil with `Closes #1`.
# - review: fixup committed but not autosquashed, a separate commit that removes the print, a plain push of the
#   rewritten branch (refused); right: git commit --amend.
# - land: merging upstream/main, rebasing without fetching, not pushing the rebased branch; right: git pull
#   --rebase upstream main.
# - reports: the template as it is, steps in prose, a guessed actual output, no version or commit, the
#   maintainer's own address as the security contact; right: another wording with the version and
#   page_links imported another way.

STEM = "06b-contribution-loop"


def _cells():
    """[(role, grade_id, source)] of the exercise's code cells, in order: setup, answer, tests, locked."""
    import nbformat

    from course.platform import paths
    from course.platform.authoring import nbgrader_role

    nb = nbformat.read(paths.solution_path(STEM), as_version=4)
    return [(nbgrader_role(c) or "plain", c.metadata.get("nbgrader", {}).get("grade_id", ""), c.source)
            for c in nb.cells if c.cell_type == "code"]


def _copy(namespace: dict, where: Path) -> dict:
    """A copy of the learner's state (forge and clone) in ``where``, and a namespace that points at it."""
    copied = dict(namespace)
    root = where / "forge"
    shutil.copytree(namespace["forge"].root, root, symlinks=True)
    for name in ("upstream", "fork"):
        forges._install_hook(root / f"{name}.git", root, name)
    gitrepo.git("remote", "set-url", "origin", str(root / "upstream.git"), cwd=root / "maintainer")
    copied["forge"] = forges.Forge(root)
    if "work" in namespace:
        shutil.copytree(namespace["work"].path, where / "work", symlinks=True)
        work = copied["work"] = gitrepo.Repo(where / "work", clock=namespace["work"].clock)
        work.git("remote", "set-url", "origin", str(root / "fork.git"))
        if work.run("remote", "get-url", "upstream").returncode == 0:
            work.git("remote", "set-url", "upstream", str(root / "upstream.git"))
    return copied


def _run_tests(namespace: dict, sources: list[str]) -> list[str | None]:
    errors = []
    for source in sources:
        try:
            exec(compile(source, "<test cell>", "exec"), namespace)
            errors.append(None)
        except Exception as error:  # noqa: BLE001 - a failing test cell, as nbgrader sees it
            errors.append(f"{type(error).__name__}: {str(error)[:300]}")
    return errors


@pytest.fixture(scope="module")
def exercise(tmp_path_factory):
    """(snapshots {answer grade_id: namespace before it}, {answer grade_id: its test sources}, solution errors)."""
    cells = _cells()
    namespace: dict = {"__name__": "__main__"}
    snapshots, tests, errors, current = {}, {}, {}, None
    try:
        for role, grade_id, source in cells:
            if role == "answer":
                current = grade_id
                if "forge" in namespace:
                    snapshots[grade_id] = _copy(namespace, tmp_path_factory.mktemp(grade_id))
                tests[grade_id] = []
            if role == "tests":
                tests[current].append(source)
                errors.setdefault(current, []).extend(_run_tests(namespace, [source]))
            elif not source.startswith("forge.close()"):
                exec(compile(source, f"<{grade_id or role}>", "exec"), namespace)
        yield snapshots, tests, errors
    finally:  # the forge in a temporary folder, and the clones, even when a cell failed
        if "forge" in namespace:
            namespace["forge"].close()
        gitrepo.cleanup()


def _replace(part: str, *pairs: tuple[str, str]) -> str:
    source = next(s for role, grade_id, s in _cells() if grade_id == part)
    for old, new in pairs:
        assert old in source, f"{old!r} is not in the answer to {part}"
        source = source.replace(old, new)
    return source


FORK_SWITCH = 'work.git("switch", "--quiet", "--create", BRANCH, "upstream/main")'
ISSUE_LINE = ('ISSUE = next(issue.number for issue in forge.issues()\n             if issue.state == "open" and '
              '"good first issue" in issue.labels and not issue.assignee)')
TEST_ADD = "def test_items_that_fill_the_last_page_exactly():\n    assert page_count(20, 10) == 2\n    assert page_count(0, 10) == 0\n"
FIX_LINE = "    return -(-total // per_page)  # rounds up; 0 items fill 0 pages"
REBASE = 'work.git("rebase", "--quiet", "-i", "--autosquash", "upstream/main", env={"GIT_SEQUENCE_EDITOR": "true"})'
LEASE = 'work.run("push", "--force-with-lease", "origin", BRANCH)'
REPORT = '''
import subprocess, sys
BUG_REPORT = """## Summary
{summary}

## Steps to reproduce
{steps}

## Expected behaviour
{expected}

## Actual behaviour
{actual}

## Environment
{environment}
"""
SECURITY_CONTACT = "{contact}"
'''
GOOD_REPORT = {"summary": "page_links(3, 3) links to a page 4 that does not exist.",
               "steps": "```python\nimport pagekit.pages as pages\nprint(pages.page_links(3, 3))\n```",
               "expected": "{'prev': 2}", "actual": "{'prev': 2, 'next': 4}",
               "environment": "pagekit 0.3.0 plus main; Python 3.11 on Linux", "contact": "security@pagekit.example"}

VARIANTS = [
    ("issue-assigned", "fork", False, _replace("fork", (ISSUE_LINE, "ISSUE = 2"))),
    ("issue-closed", "fork", False, _replace("fork", (ISSUE_LINE, "ISSUE = 3"))),
    ("branch-from-origin-main", "fork", False, _replace("fork", (FORK_SWITCH, FORK_SWITCH.replace("upstream/", "origin/")))),
    ("branch-from-local-main", "fork", False, _replace("fork", (FORK_SWITCH, FORK_SWITCH.replace(', "upstream/main"', "")))),
    ("no-upstream-remote", "fork", False, _replace(
        "fork", ('work.git("remote", "add", "upstream", forge.upstream_url)\n', ""),
        ('work.git("fetch", "--quiet", "upstream")', 'work.git("fetch", "--quiet", forge.upstream_url, "main")'),
        (FORK_SWITCH, FORK_SWITCH.replace('"upstream/main"', '"FETCH_HEAD"')))),
    ("checkout-b-and-issue-1", "fork", True, _replace(
        "fork", (ISSUE_LINE, "ISSUE = 1"), (FORK_SWITCH, 'work.git("checkout", "--quiet", "-b", BRANCH, "upstream/main")'))),
    ("remote-add-f-branch-then-switch", "fork", True, _replace(
        "fork", ('work.git("remote", "add", "upstream", forge.upstream_url)\nwork.git("fetch", "--quiet", "upstream")',
                 'work.git("remote", "add", "-f", "upstream", forge.upstream_url)'),
        (FORK_SWITCH, 'work.git("branch", BRANCH, "upstream/main")\nwork.git("switch", BRANCH)'))),
    ("test-passes-on-the-bug", "test_first", False, _replace(
        "test_first", (TEST_ADD, "def test_a_last_partial_page():\n    assert page_count(21, 10) == 3\n"))),
    ("test-and-fix-together", "test_first", False, _replace(
        "test_first", ('work.git("add", "tests/test_pages.py")',
                       'work.write("pagekit/pages.py", work.read("pagekit/pages.py").replace("total // per_page + 1", '
                       '"-(-total // per_page)"))\nwork.git("add", "--all")'))),
    ("test-not-signed-off", "test_first", False, _replace("test_first", ('"--quiet", "-s", "-m"', '"--quiet", "-m"'))),
    ("test-header-out-of-format", "test_first", False, _replace(
        "test_first", ('"test(pages): count the pages of items that fill them exactly', '"Add a failing test'))),
    ("test-cannot-be-imported", "test_first", False, _replace(
        "test_first", ("def test_items", "from pagekit import page_links\n\n\ndef test_items"))),
    ("test-class-in-a-new-file", "test_first", True, _replace(
        "test_first", ('work.write("tests/test_pages.py", work.read("tests/test_pages.py") + ',
                       'work.write("tests/test_issue_1.py", "from pagekit import page_count\\n" + '),
        ("\ndef test_items", "\nimport pytest\n\n\ndef test_items"),
        (TEST_ADD, 'class TestFullPages:\n    @pytest.mark.parametrize(("total", "pages"), [(20, 2), (0, 0), (21, 3)])\n'
                   '    def test_count(self, total, pages):\n        assert page_count(total, 10) == pages\n'),
        ('work.git("add", "tests/test_pages.py")', 'work.git("add", "tests")'))),
    ("fix-without-fixes-line", "fix", False, _replace("fix", ("\\n\\nFixes #1", ""))),
    ("fix-names-issue-2", "fix", False, _replace("fix", ("Fixes #1", "Fixes #2"))),
    ("fix-that-is-wrong", "fix", False, _replace("fix", (FIX_LINE, "    return total // per_page"))),
    ("fix-capitalised", "fix", False, _replace("fix", ("fix(pages): count only", "fix(pages): Count only"))),
    ("fix-never-pushed", "fix", False, _replace("fix", ('print(work.run("push", "origin", BRANCH).stderr)\n', ""))),
    ("fix-math-ceil-closes", "fix", True, _replace(
        "fix", (FIX_LINE, "    import math\\n    return math.ceil(total / per_page)"), ("Fixes #1", "Closes #1"))),
    ("fixup-not-squashed", "review", False, _replace("review", (REBASE + "\n", ""))),
    ("print-removed-in-its-own-commit", "review", False, _replace(
        "review", ('f"--fixup={fix}"', '"-s", "-m", "fix(pages): remove a debug print\\n\\nFixes #1"'), (REBASE + "\n", ""))),
    ("plain-push-after-rebase", "review", False, _replace("review", (LEASE, LEASE.replace('"--force-with-lease", ', "")))),
    ("amend-instead", "review", True, _replace(
        "review", ('work.git("commit", "--quiet", "-a", f"--fixup={fix}")\n' + REBASE,
                   'work.git("commit", "--quiet", "-a", "--amend", "--no-edit")'))),
    ("merge-upstream-in", "land", False, _replace(
        "land", ('work.git("rebase", "--quiet", "upstream/main")', 'work.git("merge", "--quiet", "--no-edit", "upstream/main")'))),
    ("rebase-without-fetch", "land", False, _replace("land", ('work.git("fetch", "--quiet", "upstream")\n', ""))),
    ("rebase-not-pushed", "land", False, _replace("land", ("print(" + LEASE + ".stderr)\n", ""))),
    ("pull-rebase", "land", True, _replace(
        "land", ('work.git("fetch", "--quiet", "upstream")\nwork.git("rebase", "--quiet", "upstream/main")',
                 'work.git("pull", "--quiet", "--rebase", "upstream", "main")'))),
    ("report-is-the-template", "reports", False, "BUG_REPORT = forges.BUG_TEMPLATE\nSECURITY_CONTACT = 'security@pagekit.example'"),
    ("report-steps-in-prose", "reports", False, REPORT.format(**{**GOOD_REPORT, "steps": "Call page_links(3, 3)."})),
    ("report-guessed-actual", "reports", False, REPORT.format(**{**GOOD_REPORT, "actual": "{'prev': 2}",
                                                                  "expected": "no next link"})),
    ("report-no-version", "reports", False, REPORT.format(**{**GOOD_REPORT, "environment": "Python 3.11 on Linux"})),
    ("security-to-the-maintainer", "reports", False, REPORT.format(**{**GOOD_REPORT, "contact": "maya@pagekit.example"})),
    ("report-other-wording", "reports", True, REPORT.format(**GOOD_REPORT)),
]


@pytest.fixture(scope="module")
def graded_variants(exercise, tmp_path_factory):
    snapshots, tests, _ = exercise
    results = {}
    for variant_id, part, _correct, source in VARIANTS:
        namespace = _copy(snapshots[part], tmp_path_factory.mktemp(variant_id))
        with contextlib.suppress(Exception):  # an answer that raises: its tests fail on what it left undone
            exec(compile(source, f"<{variant_id}>", "exec"), namespace)
        results[variant_id] = _run_tests(namespace, tests[part])
        namespace["forge"].close()
    return results


@pytest.mark.slow
def test_the_solution_passes_every_test_cell_in_process(exercise):
    _, tests, errors = exercise
    assert set(errors) == set(tests) and all(e is None for found in errors.values() for e in found), errors


@pytest.mark.slow
@pytest.mark.parametrize(("variant_id", "correct"), [(v[0], v[2]) for v in VARIANTS], ids=[v[0] for v in VARIANTS])
def test_hidden_tests_judge_each_variant(graded_variants, variant_id, correct):
    errors = graded_variants[variant_id]
    assert_judged(errors, correct)
