"""course.steps.step06_open_source.repos (real git, isolated from the user's config), the licence data, and step 06's hidden tests.

Every test here runs the real git program: they are ``service`` tests, and in CI a skip counts as a failure.
The last group runs the exercise's own test cells against other correct answers (which must pass) and
plausible wrong ones (which must fail), in an IPython shell, without nbgrader.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from factories import graded_cells
from factories import part_runner as run_parts

from course import data
from course.platform import paths
from course.steps import step06_open_source as gitrepo

pytestmark = pytest.mark.service

STEM = "06-open-source"


@pytest.fixture(autouse=True)
def _remove_temporary_repositories():
    yield
    gitrepo.cleanup()


def numstat_by_email(repo: gitrepo.Repo) -> dict:
    """The test's own reading of git log: commits and lines per lowercase email, merges excluded."""
    stats: dict = {}
    for block in repo.git("log", "--no-merges", "--numstat", "--format=@@%ae").split("@@")[1:]:
        email, *lines = block.strip("\n").split("\n")
        entry = stats.setdefault(email.lower(), [0, 0, 0])
        entry[0] += 1
        for line in filter(None, lines):
            added, deleted, _ = line.split("\t", 2)
            entry[1] += 0 if added == "-" else int(added)
            entry[2] += 0 if deleted == "-" else int(deleted)
    return stats


# --- isolation from the user's git config ---------------------------------------------------------------

def test_the_global_config_is_neither_read_nor_written(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    config = home / ".gitconfig"
    # If git read this file, every commit would need gpg and carry the wrong name.
    config.write_text("[user]\n\tname = Global Person\n\temail = global@example.com\n"
                      "[commit]\n\tgpgsign = true\n[gpg]\n\tprogram = /bin/false\n")
    before = config.read_bytes()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "not-a-repository"))  # a stray variable must not leak in

    repo = gitrepo.init_repo(tmp_path / "repo", name="Local Person", email="local@example.org")
    repo.commit("feat: first", {"a.txt": "a\n"})

    assert repo.git("log", "-1", "--format=%an <%ae>").strip() == "Local Person <local@example.org>"
    assert "Global Person" not in repo.git("config", "--list")
    assert config.read_bytes() == before
    assert not (home / ".config").exists()
    assert repo.config("user.name") == "Local Person"
    assert "file:.git/config" in repo.git("config", "--show-origin", "--get", "user.email")


def test_git_env_drops_the_callers_git_variables(monkeypatch):
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Someone Else")
    env = gitrepo.git_env()
    assert "GIT_AUTHOR_NAME" not in env
    assert env["GIT_CONFIG_GLOBAL"] == os.devnull and env["GIT_CONFIG_NOSYSTEM"] == "1"


def test_the_same_steps_give_the_same_commit_ids():
    heads = []
    for _ in range(2):
        repo = gitrepo.init_repo()
        repo.commit("feat: one", {"a.txt": "1\n"})
        repo.commit("fix: two", {"a.txt": "2\n"}, author="Ada <ada@example.org>")
        heads.append(repo.head())
    assert heads[0] == heads[1]


def test_author_and_committer_are_kept_apart():
    repo = gitrepo.init_repo(name="Maya Maintainer", email="maya@example.org")
    repo.commit("docs: thanks", {"THANKS": "Ada\n"}, author="Ada Lovelace <ada@example.org>")
    assert repo.git("log", "-1", "--format=%an|%cn").strip() == "Ada Lovelace|Maya Maintainer"
    assert repo.branch() == "main"


def test_a_failing_command_raises_git_error_with_its_message():
    repo = gitrepo.init_repo()
    with pytest.raises(gitrepo.GitError) as caught:
        repo.git("switch", "no-such-branch")
    assert caught.value.returncode != 0 and "no-such-branch" in str(caught.value)
    assert repo.run("switch", "no-such-branch").returncode != 0  # run() reports, never raises


def test_clone_has_its_own_identity_and_upstream_history():
    upstream = gitrepo.init_repo(name="Maya", email="maya@example.org")
    upstream.commit("chore: start", {"README.md": "# x\n"})
    clone = gitrepo.clone(upstream, name="Chidi", email="chidi@example.org")
    assert clone.head() == upstream.head()
    assert clone.config("user.name") == "Chidi" and upstream.config("user.name") == "Maya"


def test_cleanup_removes_every_temporary_repository():
    made = [gitrepo.init_repo().path for _ in range(3)]
    assert all(path.exists() for path in made)
    assert gitrepo.cleanup() >= 3
    assert not any(path.exists() for path in made)


def test_version_is_recent_enough_for_config_isolation():
    assert gitrepo.git_version() >= (2, 32), "GIT_CONFIG_GLOBAL needs git 2.32 or later"


# --- conflicts, patches, histories ----------------------------------------------------------------------

@pytest.mark.parametrize("style", ["merge", "diff3"])
def test_make_conflict_stops_in_a_conflicted_merge(style):
    repo = gitrepo.make_conflict("a==1.0.0\n", "a==1.1.0\n", "a==2.0.0\n", style=style)
    text = repo.read("requirements.txt")
    assert repo.conflicted() == ["requirements.txt"]
    assert text.startswith("<<<<<<<") and "=======" in text and ">>>>>>> theirs" in text
    assert ("|||||||" in text) == (style == "diff3")


def test_make_conflict_refuses_changes_that_merge_cleanly():
    with pytest.raises(ValueError, match="cleanly"):
        gitrepo.make_conflict("a\nb\nc\nd\ne\n", "A\nb\nc\nd\ne\n", "a\nb\nc\nd\nE\n")


def _fix(repo: gitrepo.Repo) -> None:
    source = repo.read("textkit/slug.py")
    repo.write("textkit/slug.py", source.replace('r"[^a-z0-9]", "-", title.lower())',
                                                 'r"[^a-z0-9]+", "-", title.lower()).strip("-")'))


def test_the_patch_project_fails_until_fixed_and_a_patch_applies_with_am():
    project = gitrepo.make_patch_project()
    failing = gitrepo.run_project_tests(project)
    assert failing.returncode != 0 and "test_punctuation_and_spaces_collapse" in failing.stderr

    _fix(project)
    assert gitrepo.run_project_tests(project).returncode == 0
    project.git("commit", "--all", "--quiet", "--message", "fix(slug): collapse separators")
    patch = project.git("format-patch", "-1", "--stdout")

    fresh = gitrepo.make_patch_project()
    applied = gitrepo.apply_patch(fresh, patch)
    assert applied.returncode == 0, applied.stderr
    assert gitrepo.run_project_tests(fresh).returncode == 0
    assert fresh.git("log", "-1", "--format=%s|%ae").strip() == "fix(slug): collapse separators|" \
        + gitrepo.DEFAULT_EMAIL


def test_a_plain_diff_is_refused_and_leaves_no_am_in_progress():
    project = gitrepo.make_patch_project()
    _fix(project)
    diff = project.git("diff")
    fresh = gitrepo.make_patch_project()
    assert gitrepo.apply_patch(fresh, diff).returncode != 0
    assert not (fresh.path / ".git" / "rebase-apply").exists()
    assert fresh.git("status", "--porcelain") == ""
    with pytest.raises(ValueError):
        gitrepo.apply_patch(fresh, "  \n")


@pytest.mark.parametrize("seed", [0, 3, 2024])
def test_the_contributor_repo_plan_agrees_with_git_log(seed):
    repo, plan = gitrepo.make_contributor_repo(seed)
    want: dict = {}
    for commit in plan:
        if commit["merge"] or not commit["reachable"]:
            continue
        entry = want.setdefault(commit["email"].lower(), [0, 0, 0])
        entry[0] += 1
        entry[1] += commit["added"]
        entry[2] += commit["deleted"]
    assert numstat_by_email(repo) == want
    # The history has every feature the exercise's edge cases rely on.
    assert any(c["merge"] for c in plan) and any(not c["reachable"] for c in plan)
    assert "Merge branch" in repo.git("log", "--merges", "--format=%s")
    assert repo.git("log", "-1", "--skip=1", "--numstat", "--format=").startswith("-\t-\t")  # the binary file
    assert repo.git("log", "-1", "--numstat", "--format=").strip() == ""  # the empty commit
    assert "experiment" in repo.git("branch", "--list")


def test_contributor_repos_spell_some_emails_in_capitals():
    _, plan = gitrepo.make_contributor_repo(0)
    assert any(c["email"] != c["email"].lower() for c in plan)


# --- the licence table -------------------------------------------------------------------------------------

LICENCE_FIELDS = {"spdx", "name", "kind", "patent_grant", "notice", "state_changes", "disclose_source",
                  "same_licence", "no_endorsement", "closed_source_ok", "combines_into", "used_by", "source",
                  "as_of"}


def test_the_licence_table_is_complete_and_sourced():
    table = data.load("licences.yaml")
    rows = table["licences"]
    ids = [row["spdx"] for row in rows]
    assert {"MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "GPL-3.0-or-later"} <= set(ids)
    assert table["compiled"] and table["sources"]
    for row in rows:
        assert set(row) == LICENCE_FIELDS, row["spdx"]
        assert row["kind"] in {"permissive", "copyleft"}
        assert row["source"].startswith("https://") and row["as_of"]
        assert row["spdx"] in row["combines_into"] and set(row["combines_into"]) <= set(ids)
        assert row["closed_source_ok"] == (row["kind"] == "permissive")
        assert row["same_licence"] == row["disclose_source"] == (row["kind"] == "copyleft")


def test_the_licence_table_states_the_well_known_compatibilities():
    rows = {row["spdx"]: row for row in data.load("licences.yaml")["licences"]}
    assert set(rows["MIT"]["combines_into"]) == set(rows)
    assert "GPL-3.0-or-later" in rows["Apache-2.0"]["combines_into"]
    assert "GPL-2.0-only" not in rows["Apache-2.0"]["combines_into"]
    assert "GPL-3.0-or-later" not in rows["GPL-2.0-only"]["combines_into"]
    assert rows["GPL-3.0-or-later"]["combines_into"] == ["GPL-3.0-or-later"]
    assert [spdx for spdx, row in rows.items() if row["patent_grant"]] == ["Apache-2.0", "GPL-3.0-or-later"]
    assert rows["BSD-3-Clause"]["no_endorsement"] and not rows["BSD-2-Clause"]["no_endorsement"]


# --- step 06's hidden tests against other answers --------------------------------------------------------

def _cells() -> dict[str, str]:
    return graded_cells(STEM)


@pytest.fixture(scope="module")
def part_runner():
    """Run the setup cell, answers and one test cell in a fresh IPython namespace; True if it passed."""
    answers = [k for k in _cells() if k.endswith(("conventional", "version", "requirements", "stats",
                                                  "licences", "patch"))]
    with run_parts(STEM, ["setup", *answers]) as run:
        yield run
    gitrepo.cleanup()


@pytest.mark.slow
def test_the_reference_answers_pass_every_test_cell(part_runner):
    for test_id in [k for k in _cells() if k.endswith("_tests")]:
        assert part_runner(test_id), test_id


LICENCE_REVERSED = '''
def pick_licences(licences, needs):
    included = {spdx.lower() for spdx in needs.get("includes", [])}
    out = []
    for licence in licences:
        if needs.get("patent_grant") and not licence["patent_grant"]:
            continue
        if needs.get("copyleft") is not None and (licence["kind"] == "copyleft") != needs["copyleft"]:
            continue
        if all(spdx in {x.lower() for x in licence["combines_into"]} for spdx in included):
            out.append(licence["spdx"])
    return out
'''
VERSION_AS_TEXT = '''
def next_version(current, messages):
    major, minor, patch = current.split(".")
    kinds = {m.split(":")[0] for m in messages if is_conventional(m)}
    if any(k.endswith("!") for k in kinds):
        return f"{int(major) + 1}.0.0"
    if any(k.startswith("feat") for k in kinds):
        return f"{major}.{int(minor) + 1}.{patch}"
    if kinds & {"fix", "perf"}:
        return f"{major}.{minor}.{int(patch) + 1}"
    return current
'''
STATS_WITH_MERGES = '''
def contributor_stats(path):
    stats = {}
    for line in gitrepo.git("log", "--format=%ae", cwd=path).split():
        entry = stats.setdefault(line, {"commits": 0, "added": 0, "deleted": 0})
        entry["commits"] += 1
    return stats
'''
CONFLICT_THEIRS = '''
def resolve_requirements(text):
    out, side = [], None
    for line in text.split("\\n"):
        if line.startswith("<<<<<<<"):
            side = "ours"
        elif line.startswith("=======") and side:
            side = "theirs"
        elif line.startswith(">>>>>>>") and side:
            side = None
        elif side != "ours":
            out.append(line)
    return "\\n".join(out)
'''
PATCH_AS_DIFF = '''
def make_patch():
    repo = gitrepo.make_patch_project()
    repo.write("textkit/slug.py", repo.read("textkit/slug.py").replace(
        'r"[^a-z0-9]", "-", title.lower())', 'r"[^a-z0-9]+", "-", title.lower()).strip("-")'))
    return repo.git("diff")
'''
PATCH_OTHER_FIX = '''
def make_patch():
    repo = gitrepo.make_patch_project()
    repo.write("textkit/slug.py", repo.read("textkit/slug.py").replace(
        'return re.sub(r"[^a-z0-9]", "-", title.lower())',
        'return "-".join(re.findall("[a-z0-9]+", title.lower()))'))
    repo.git("commit", "-am", "fix: join the words of the title with single hyphens")
    return repo.git("format-patch", "-1", "--stdout")
'''

_FIX_AND = '''
def make_patch():
    repo = gitrepo.make_patch_project()
    repo.write("textkit/slug.py", repo.read("textkit/slug.py").replace(
        'r"[^a-z0-9]", "-", title.lower())', 'r"[^a-z0-9]+", "-", title.lower()).strip("-")'))
    {tests}
    repo.git("add", "--all")
    repo.git("commit", "-m", "fix(slug): collapse runs of separators")
    return repo.git("format-patch", "-1", "--stdout")
'''
PATCH_ADDS_A_TEST_FILE = _FIX_AND.format(tests='''repo.write("tests/test_regression.py", (
        "import unittest\\nfrom textkit.slug import slugify\\n\\n\\n"
        "class RegressionTest(unittest.TestCase):\\n"
        "    def test_trailing_punctuation(self):\\n"
        "        self.assertEqual(slugify('Done!'), 'done')\\n"))''')
PATCH_ADDS_A_TEST_TO_THE_FILE = _FIX_AND.format(tests='''repo.write("tests/test_slug.py", repo.read(
        "tests/test_slug.py").replace("\\n\\nif __name__", (
        "\\n    def test_no_trailing_hyphen(self):\\n"
        "        self.assertEqual(slugify('Done!'), 'done')\\n\\n\\nif __name__")))''')
PATCH_WEAKENS_A_TEST = _FIX_AND.format(tests='''repo.write("tests/test_slug.py", repo.read(
        "tests/test_slug.py").replace('self.assertEqual(slugify("Hello, World!"), "hello-world")',
        'self.assertTrue(slugify("Hello, World!"))'))''')
PATCH_DELETES_THE_TESTS = _FIX_AND.format(tests='repo.git("rm", "--quiet", "tests/test_slug.py")')


@pytest.mark.slow
@pytest.mark.parametrize(("answer", "passes"), [
    (PATCH_ADDS_A_TEST_FILE, True), (PATCH_ADDS_A_TEST_TO_THE_FILE, True),
    (PATCH_WEAKENS_A_TEST, False), (PATCH_DELETES_THE_TESTS, False),
], ids=["adds-a-test-file", "adds-a-test-to-the-file", "weakens-a-test", "deletes-the-tests"])
def test_part_f_accepts_added_tests_and_refuses_weakened_or_deleted_ones(part_runner, answer, passes):
    assert part_runner("make_patch_tests", make_patch=answer) is passes

_VERSION_TEMPLATE = '''
def next_version(current, messages):
    if not re.fullmatch(r"(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)", current):
        raise ValueError(current)
    major, minor, patch = map(int, current.split("."))
    bump = 0
    for message in messages:
        if not is_conventional(message):
            continue
        header, *rest = message.split("\\n")
        breaking = {breaking}
        if breaking:
            bump = max(bump, 3)
        elif header.startswith("feat"):
            bump = max(bump, 2)
        elif header.startswith(("fix", "perf")):
            bump = max(bump, 1)
    if bump == 3 and major == 0:
        bump = 2
    return {{3: f"{{major + 1}}.0.0", 2: f"{{major}}.{{minor + 1}}.0", 1: f"{{major}}.{{minor}}.{{patch + 1}}"}}.get(
        bump, current)
'''
_FOOTER = 'line.startswith(("BREAKING CHANGE:", "BREAKING-CHANGE:"))'
VERSION_RIGHT = _VERSION_TEMPLATE.format(
    breaking=f'header.partition(":")[0].endswith("!") or any({_FOOTER} for line in rest)')
VERSION_BANG_ANYWHERE = _VERSION_TEMPLATE.format(breaking=f'"!" in header or any({_FOOTER} for line in rest)')
VERSION_FOOTER_LAST_LINE_ONLY = _VERSION_TEMPLATE.format(
    breaking='header.partition(":")[0].endswith("!") or bool(rest) and [l for l in rest if l][-1:] != [] and '
             '[l for l in rest if l][-1].startswith(("BREAKING CHANGE:", "BREAKING-CHANGE:"))')


@pytest.mark.slow
@pytest.mark.parametrize(("answer", "passes"), [
    (VERSION_RIGHT, True), (VERSION_BANG_ANYWHERE, False), (VERSION_FOOTER_LAST_LINE_ONLY, False),
], ids=["right", "bang-anywhere-in-the-header", "breaking-footer-on-the-last-line-only"])
def test_part_b_reads_breaking_changes_where_the_text_says(part_runner, answer, passes):
    assert part_runner("next_version_tests", next_version=answer) is passes


def test_the_lesson_says_where_the_commit_types_come_from_and_that_including_is_not_relicensing():
    import nbformat

    lesson = nbformat.read(paths.lesson_path(STEM), as_version=4)
    text = "\n".join(c.source for c in lesson.cells if c.cell_type == "markdown")
    assert "defines only two types, `feat`" in text and "Angular" in text
    assert "Including code is not relicensing it" in text
    assert "goes into GPL-3.0 projects, not into MIT ones" not in Path(paths.solution_path(STEM)).read_text()


@pytest.mark.slow
@pytest.mark.parametrize(("test_id", "answer_id", "answer", "passes"), [
    ("pick_licences_tests", "pick_licences", LICENCE_REVERSED, False),
    ("next_version_tests", "next_version", VERSION_AS_TEXT, False),
    ("contributor_stats_tests", "contributor_stats", STATS_WITH_MERGES, False),
    ("resolve_requirements_tests", "resolve_requirements", CONFLICT_THEIRS, False),
    ("make_patch_tests", "make_patch", PATCH_AS_DIFF, False),
    ("make_patch_tests", "make_patch", PATCH_OTHER_FIX, True),
], ids=["licence-direction-reversed", "version-not-reset", "stats-count-merges", "conflict-take-theirs",
        "patch-is-a-plain-diff", "patch-another-correct-fix"])
def test_hidden_tests_judge_other_answers(part_runner, test_id, answer_id, answer, passes):
    assert part_runner(test_id, **{answer_id: answer}) is passes


def test_the_exercise_names_files_that_exist():
    text = Path(paths.solution_path(STEM)).read_text()
    assert "licences.yaml" in text and data.path("licences.yaml").is_file()
