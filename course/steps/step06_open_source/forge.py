"""A forge on this machine, made of real git: the whole contribution loop of deep dive 06b.

:func:`create_forge` builds, in one new temporary folder:

- ``upstream.git``: the bare repository of a small project, ``pagekit`` (pagination for JSON APIs). Its
  ``pre-receive`` hook is the project's CI: for every pushed branch it checks the pushed commit out into a
  temporary folder, runs the project's tests with real pytest, prints pytest's output (git shows it to the
  pusher as ``remote:`` lines) and refuses the whole push when they fail. Only the maintainers push to
  upstream (a stand-in for the forge's permissions: the ``FORGE_ROLE=maintainer`` variable), and
  ``receive.denyNonFastForwards`` keeps its history from being rewritten;
- ``fork.git``: the learner's fork, a bare clone of upstream made one commit ago (so it is already behind),
  with the same CI hook, as a fork runs the project's CI on its own pushes;
- ``maintainer/``: the maintainer's working clone; ``issues/NNNN.md``: the labelled issue list;
- ``ci.jsonl``: one line per push a hook judged; ``pulls.json``: the pull requests and their reviews.

A pull request names a branch of the fork. :meth:`Forge.review` fetches it into upstream as
``refs/pull/N/head`` (GitHub's layout) and runs :func:`review_range`, a scripted reviewer that reads the real
commits and diff; :meth:`Forge.merge` lands it by pushing it to upstream's ``main`` (a fast-forward, through
the CI hook) when the review has nothing left to say. Every git command runs with the isolated environment of
:mod:`.repos` (no global config, an identity per repository, a logical clock).
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course.components.waits import scaled
from course.steps.step06_open_source.project import (
    BUG_TEMPLATE,
    CONTRIBUTING,
    FILES,
    ISSUES,
    LINK_TESTS,
    LINKS,
    MAINTAINER,
    SECURITY,
    TYPES,
)
from course.steps.step06_open_source.repos import Repo, git, init_repo, run_git, temp_dir

__all__ = ["Forge", "Issue", "Comment", "Review", "Push", "Merge", "create_forge", "review_range",
           "report_sections", "pre_receive", "HEADER", "TYPES", "SIGN_OFF", "CLOSES",
           "CONTRIBUTING", "SECURITY", "BUG_TEMPLATE"]  # the project's documents, for the notebooks

ZERO = "0" * 40
HEADER = re.compile(rf"(?:{'|'.join(TYPES)})(?:\([a-z0-9-]+\))?!?: [a-z0-9`].*")
SIGN_OFF = "Signed-off-by: "
CLOSES = re.compile(r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?) #(\d+)\b", re.I)
DEBUG_LINE = re.compile(r"^\s*(?:print\(|breakpoint\(\)|import pdb|pdb\.set_trace\(\))")
CI_TIMEOUT = 120  # seconds (scaled on a slow machine) the project's tests may take in the hook
PYTEST = ("-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", "--no-header", "--color=no")

@dataclass
class Issue:
    number: int
    title: str
    labels: list[str]
    state: str
    assignee: str
    body: str

    def text(self) -> str:
        return (f"---\nnumber: {self.number}\ntitle: {self.title}\nlabels: {', '.join(self.labels)}\n"
                f"state: {self.state}\nassignee: {self.assignee}\n---\n{self.body}\n")

    @classmethod
    def parse(cls, text: str) -> Issue:
        _, head, body = text.split("---\n", 2)
        fields = dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "")
                      for line in head.strip().splitlines())
        return cls(int(fields["number"]), fields["title"], [x.strip() for x in fields["labels"].split(",") if x.strip()],
                   fields["state"], fields["assignee"], body.strip())


@dataclass
class Comment:
    """One review comment: which rule, on which commit or file line, and what to do."""

    rule: str
    message: str
    commit: str = ""
    path: str = ""
    line: int = 0

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.path else (self.commit[:7] or "branch")
        return f"[{self.rule}] {where}: {self.message}"


@dataclass
class Review:
    """What the reviewer said about one head commit of a pull request; approved when it said nothing."""

    head: str
    comments: list[Comment] = field(default_factory=list)

    @property
    def approved(self) -> bool:
        return not self.comments

    def __str__(self) -> str:
        if self.approved:
            return f"review of {self.head[:7]}: approved, nothing to change"
        return "\n".join([f"review of {self.head[:7]}: changes requested"] + [f"  - {c}" for c in self.comments])


@dataclass
class Push:
    """One push a CI hook judged (a line of ``ci.jsonl``)."""

    repo: str
    ref: str
    old: str
    new: str
    accepted: bool
    failed: list[str]
    summary: str


@dataclass
class Merge:
    merged: bool
    reasons: list[str]
    output: str = ""

    def __str__(self) -> str:
        return "merged" if self.merged else "not merged: " + "; ".join(self.reasons)


# --- the reviewer --------------------------------------------------------------------------------------


def _commits(where: Path, base: str, head: str) -> list[dict]:
    out = git("log", "--reverse", "--format=%H%x00%P%x00%an <%ae>%x00%B%x1e", f"{base}..{head}", cwd=where)
    commits = []
    for record in filter(str.strip, out.split("\x1e")):
        sha, parents, author, message = record.strip("\n").split("\x00")
        commits.append({"sha": sha, "parents": parents.split(), "author": author, "message": message.strip()})
    return commits


def _added_lines(where: Path, base: str, head: str):
    """(path, line number, text) of every line the branch adds, from ``git diff base...head``."""
    path, number = "", 0
    for line in git("diff", "--unified=0", "--no-color", f"{base}...{head}", cwd=where).splitlines():
        if line.startswith("+++ "):
            path = line[6:] if line.startswith("+++ b/") else ""
        elif line.startswith("@@"):
            number = int(re.search(r"\+(\d+)", line)[1]) - 1
        elif line.startswith("+") and path:
            number += 1
            yield path, number, line[1:]


def _is_test(path: str) -> bool:
    return path.startswith("tests/") or Path(path).name.startswith("test_")


def review_range(where: str | Path, base: str, head: str, issues: dict[int, Issue] | None = None) -> list[Comment]:
    """What a reviewer following CONTRIBUTING.md says about the commits ``base..head`` of the repository at
    ``where`` (bare or not): merge and fixup commits, message format, sign-off, a missing test, leftover
    debug lines, an issue reference, and whether the branch starts at ``base``."""
    where = Path(where)
    commits, comments = _commits(where, base, head), []
    if not commits:
        return [Comment("empty", "the branch has no commits on top of main")]
    for c in commits:
        subject, _, rest = c["message"].partition("\n")
        if len(c["parents"]) > 1:
            comments.append(Comment("merge", "a merge commit: rebase onto upstream/main instead of merging it "
                                    "into your branch", c["sha"]))
            continue
        if re.match(r"(?:fixup|squash|amend)! ", subject):
            comments.append(Comment("fixup", f"{subject!r} is still here: squash it with "
                                    "git rebase -i --autosquash upstream/main", c["sha"]))
            continue
        if not HEADER.fullmatch(subject) or len(subject) > 72 or subject.endswith("."):
            comments.append(Comment("format", f"header {subject!r}: write `type(scope): summary` (lower case, "
                                    "no full stop, at most 72 characters)", c["sha"]))
        if rest and not rest.startswith("\n"):
            comments.append(Comment("format", "leave a blank line between the header and the body", c["sha"]))
        signed = [line[len(SIGN_OFF):].strip() for line in c["message"].splitlines() if line.startswith(SIGN_OFF)]
        if c["author"] not in signed:
            said = f"signed off as {', '.join(signed)} but " if signed else "no Signed-off-by line; "
            comments.append(Comment("sign-off", f"{said}authored by {c['author']}: commit with -s", c["sha"]))
    added = list(_added_lines(where, base, head))
    touched = git("diff", "--name-only", f"{base}...{head}", cwd=where).split()
    if any(p.endswith(".py") and not _is_test(p) for p in touched) and not any(_is_test(p) for p in touched):
        comments.append(Comment("test", "the code changes but no test does: add a test that fails without it"))
    for path, number, text in added:
        if path.endswith(".py") and not _is_test(path) and DEBUG_LINE.match(text):
            comments.append(Comment("debug", f"leftover debug line {text.strip()!r}: remove it", path=path, line=number))
    referenced = {int(n) for c in commits for n in CLOSES.findall(c["message"])}
    if not referenced:
        comments.append(Comment("issue", "no commit says which issue it fixes (`Fixes #N` in the body)"))
    for number in sorted(referenced):
        issue = (issues or {}).get(number)
        if issues is not None and (issue is None or issue.state != "open"):
            comments.append(Comment("issue", f"#{number} is {'not an issue here' if issue is None else issue.state}"))
    if git("merge-base", base, head, cwd=where).strip() != git("rev-parse", base, cwd=where).strip():
        behind = git("rev-list", "--count", f"{head}..{base}", cwd=where).strip()
        comments.append(Comment("base", f"main has {behind} commit(s) your branch lacks: git fetch upstream, "
                                "then git rebase upstream/main"))
    return comments


# --- the CI hook ---------------------------------------------------------------------------------------


def _run_tests(new: str) -> tuple[bool, list[str], str, str]:
    """Check ``new`` out into a temporary folder and run its tests; (passed, failed ids, summary, output).
    Runs inside the hook, whose environment lets git read the pushed objects (still in quarantine)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    archive = subprocess.run(["git", "archive", "--format=tar", new], capture_output=True, env=env, check=True)
    checkout = Path(tempfile.mkdtemp(prefix="forge-ci-"))
    try:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            # the "data" filter (Python 3.11.4 and later) refuses absolute paths and links out of the folder
            tar.extractall(checkout, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        clean = {k: v for k, v in env.items() if not k.startswith("GIT_")}
        clean.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONDONTWRITEBYTECODE="1")
        done = subprocess.run([sys.executable, *PYTEST], cwd=checkout, capture_output=True, text=True,
                              env=clean, timeout=scaled(CI_TIMEOUT), check=False)
    finally:
        shutil.rmtree(checkout, ignore_errors=True)
    output = done.stdout + done.stderr
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", output, re.M)
    summary = next((re.sub(r" in [\d.]+s.*", "", line.strip("= ")) for line in reversed(output.splitlines())
                    if re.search(r"\b(passed|failed|error|no tests ran)", line)), f"pytest exited {done.returncode}")
    return done.returncode == 0, failed, summary, output


def pre_receive(root: str | Path, name: str, updates: list[tuple[str, str, str]]) -> int:
    """The hook's body: judge each ``(old, new, ref)`` update, print why, log it; 1 refuses the whole push."""
    root, verdict = Path(root), 0
    for old, new, ref in updates:
        if new == ZERO or not ref.startswith("refs/heads/"):
            continue  # deleting a branch, or a tag: no tests to run
        if name == "upstream" and os.environ.get("FORGE_ROLE") != "maintainer":
            accepted, failed, summary = False, [], "only maintainers push to upstream"
            print(f"forge: {ref} refused: only maintainers push to upstream; push to your fork (origin) and "
                  "open a pull request")
        else:
            print(f"forge CI: running the tests of {new[:7]} for {ref}")
            accepted, failed, summary, output = _run_tests(new)
            print("\n".join(output.rstrip().splitlines()[-25:]))
            print(f"forge CI: {summary}: {ref} {'accepted' if accepted else 'REFUSED (the tests fail)'}")
        with (root / "ci.jsonl").open("a", encoding="utf-8") as log:
            log.write(json.dumps(asdict(Push(name, ref, old, new, accepted, failed, summary))) + "\n")
        verdict = verdict or (0 if accepted else 1)
    return verdict


def _install_hook(bare: Path, root: Path, name: str) -> None:
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\n# The forge's CI: the project's tests must pass on every pushed branch.\n"
                    f"exec {shlex.quote(sys.executable)} -m course.steps.step06_open_source.forge pre-receive "
                    f"{shlex.quote(str(root))} {name}\n", encoding="utf-8")
    hook.chmod(0o755)


# --- the forge -----------------------------------------------------------------------------------------


class Forge:
    """The forge of :func:`create_forge`: paths, issues, pushes, pull requests, review and merge."""

    def __init__(self, root: Path):
        self.root = root
        self.upstream, self.fork = root / "upstream.git", root / "fork.git"
        self.maintainer = Repo(root / "maintainer")
        state = json.loads((root / "forge.json").read_text(encoding="utf-8"))
        self.maintainer.clock = state["clock"]
        self.fork_base, self.upstream_base = state["fork_base"], state["upstream_base"]  # main of each, when made

    @property
    def upstream_url(self) -> str:
        return str(self.upstream)

    @property
    def fork_url(self) -> str:
        return str(self.fork)

    def head(self, repo: str = "upstream", ref: str = "main") -> str:
        """The commit a branch of ``upstream`` or ``fork`` points at ('' when it does not exist)."""
        done = run_git("rev-parse", "--verify", "--quiet", f"refs/heads/{ref}", cwd=self.root / f"{repo}.git")
        return done.stdout.strip()

    def log(self, repo: str = "upstream", ref: str = "main") -> str:
        return git("log", "--oneline", "--graph", ref, cwd=self.root / f"{repo}.git")

    def issues(self) -> list[Issue]:
        return [Issue.parse(p.read_text(encoding="utf-8")) for p in sorted((self.root / "issues").glob("*.md"))]

    def pushes(self, repo: str | None = None, ref: str | None = None) -> list[Push]:
        """The pushes the CI hooks judged, oldest first; only those of ``repo`` and ``ref`` (a branch name)."""
        path = self.root / "ci.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        found = [Push(**json.loads(line)) for line in lines]
        return [p for p in found if (repo is None or p.repo == repo) and (ref is None or p.ref == f"refs/heads/{ref}")]

    def _pulls(self) -> dict:
        path = self.root / "pulls.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def _save_pulls(self, pulls: dict) -> None:
        (self.root / "pulls.json").write_text(json.dumps(pulls, indent=1), encoding="utf-8")

    def pull_request(self, number: int) -> dict:
        pulls = self._pulls()
        if str(number) not in pulls:
            raise LookupError(f"no pull request #{number}: open one with forge.open_pull_request(branch, title)")
        return pulls[str(number)]

    def open_pull_request(self, branch: str, title: str) -> int:
        """Open a pull request from the fork's ``branch`` into upstream's main; returns its number."""
        if not self.head("fork", branch):
            raise LookupError(f"your fork has no branch {branch!r}: push it first (git push origin {branch})")
        pulls = self._pulls()
        number = 1 + max([len(self.issues()), *map(int, pulls)])  # issues and pull requests share numbers
        pulls[str(number)] = {"number": number, "branch": branch, "title": title, "state": "open", "reviews": []}
        self._save_pulls(pulls)
        return number

    def _fetch_pull(self, number: int) -> str:
        branch = self.pull_request(number)["branch"]
        git("fetch", "--quiet", "--force", self.fork_url, f"+refs/heads/{branch}:refs/pull/{number}/head",
            cwd=self.upstream)
        return git("rev-parse", f"refs/pull/{number}/head", cwd=self.upstream).strip()

    def review(self, number: int) -> Review:
        """The reviewer reads the pull request's current commits and diff against upstream's main."""
        head = self._fetch_pull(number)
        issues = {i.number: i for i in self.issues()}
        found = Review(head, review_range(self.upstream, "refs/heads/main", head, issues))
        pulls = self._pulls()
        pulls[str(number)]["reviews"].append({"head": head, "comments": [asdict(c) for c in found.comments]})
        self._save_pulls(pulls)
        return found

    def merge(self, number: int) -> Merge:
        """Land the pull request: review it again, and when the reviewer approves push its head to upstream's
        main as a maintainer (a fast-forward; the CI hook runs the tests and may still refuse)."""
        pull = self.pull_request(number)
        if pull["state"] != "open":
            return Merge(False, [f"pull request #{number} is {pull['state']}"])
        found = self.review(number)
        if not found.approved:
            return Merge(False, [str(c) for c in found.comments])
        done = run_git("push", self.upstream_url, f"{found.head}:refs/heads/main", cwd=self.fork,
                       env={"FORGE_ROLE": "maintainer"})
        if done.returncode != 0:
            return Merge(False, ["upstream refused the push (see output)"], done.stderr)
        pulls = self._pulls()
        pulls[str(number)]["state"] = "merged"
        self._save_pulls(pulls)
        self._close_issues(found.head)
        return Merge(True, [], done.stderr)

    def _close_issues(self, head: str) -> None:
        for issue in self.issues():
            if issue.state == "open" and issue.number in self._closed_by(head):
                issue.state = "closed"
                (self.root / "issues" / f"{issue.number:04d}.md").write_text(issue.text(), encoding="utf-8")

    def _closed_by(self, head: str) -> set[int]:
        text = git("log", "--format=%B", head, cwd=self.upstream)
        return {int(n) for n in CLOSES.findall(text)}

    def move_upstream(self) -> str:
        """Another contribution lands on upstream's main (a new ``page_links``, tested), pushed by the maintainer
        through the CI hook; returns the new head of upstream's main."""
        self.maintainer.git("pull", "--quiet", "--ff-only", "origin", "main")
        pages = self.maintainer.read("pagekit/pages.py") + LINKS
        self.maintainer.commit("feat(pages): add page_links() for an API's prev and next links\n\n"
                               f"{SIGN_OFF}{MAINTAINER[0]} <{MAINTAINER[1]}>",
                               {"pagekit/pages.py": pages, "tests/test_links.py": LINK_TESTS})
        self.maintainer.git("push", "--quiet", "origin", "main", env={"FORGE_ROLE": "maintainer"})
        self._save_clock()
        return self.head()

    def _save_clock(self) -> None:
        state = {"clock": self.maintainer.clock, "fork_base": self.fork_base, "upstream_base": self.upstream_base}
        (self.root / "forge.json").write_text(json.dumps(state), encoding="utf-8")

    def close(self) -> None:
        """Delete the forge's folder."""
        shutil.rmtree(self.root, ignore_errors=True)


def create_forge(path: str | Path | None = None) -> Forge:
    """Build a forge (see the module's docstring) in ``path`` or a new temporary folder, and return it."""
    root = Path(path) if path is not None else temp_dir("course-forge-")
    root.mkdir(parents=True, exist_ok=True)
    maintainer = init_repo(root / "maintainer", name=MAINTAINER[0], email=MAINTAINER[1])
    sign = f"\n\n{SIGN_OFF}{MAINTAINER[0]} <{MAINTAINER[1]}>"
    maintainer.commit("feat: first release of pagekit, with page_count and page_slice" + sign, dict(FILES))
    maintainer.git("tag", "v0.3.0")
    upstream, fork = root / "upstream.git", root / "fork.git"
    git("init", "--quiet", "--bare", upstream, cwd=root)
    git("symbolic-ref", "HEAD", "refs/heads/main", cwd=upstream)
    maintainer.git("remote", "add", "origin", str(upstream))
    maintainer.git("push", "--quiet", "--tags", "origin", "main")
    git("clone", "--quiet", "--bare", upstream, fork, cwd=root)  # the learner forked it here
    fork_base = maintainer.head()
    maintainer.commit("docs: add SECURITY.md and a bug report template" + sign,
                      {"SECURITY.md": SECURITY, ".github/ISSUE_TEMPLATE/bug_report.md": BUG_TEMPLATE})
    maintainer.git("push", "--quiet", "origin", "main")
    git("config", "receive.denyNonFastForwards", "true", cwd=upstream)
    for bare, name in ((upstream, "upstream"), (fork, "fork")):
        _install_hook(bare, root, name)
    (root / "issues").mkdir()
    for number, title, labels, state, assignee, body in ISSUES:
        issue = Issue(number, title, labels.split(", "), state, assignee, body)
        (root / "issues" / f"{number:04d}.md").write_text(issue.text(), encoding="utf-8")
    state = {"clock": maintainer.clock, "fork_base": fork_base, "upstream_base": maintainer.head()}
    (root / "forge.json").write_text(json.dumps(state), encoding="utf-8")
    return Forge(root)


def report_sections(text: str) -> dict[str, str]:
    """A Markdown report's ``## Heading`` sections, by lower-case heading: {"steps to reproduce": "...", ...}."""
    sections, current = {}, None
    for line in text.splitlines():
        heading = re.match(r"##\s+(.+?)\s*$", line)
        if heading:
            current = heading[1].lower()
            sections[current] = ""
        elif current is not None:
            sections[current] += line + "\n"
    return {name: body.strip() for name, body in sections.items()}


def main(argv: list[str]) -> int:
    """``python -m course.steps.step06_open_source.forge pre-receive ROOT NAME``: the hook's entry point."""
    if len(argv) != 4 or argv[1] != "pre-receive":
        print("usage: python -m course.steps.step06_open_source.forge pre-receive ROOT NAME", file=sys.stderr)
        return 2
    updates = [tuple(line.split()) for line in sys.stdin.read().splitlines() if line.strip()]
    return pre_receive(argv[2], argv[3], updates)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
