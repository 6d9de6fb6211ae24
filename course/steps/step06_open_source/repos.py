"""Real git in throwaway repositories, without ever reading or writing the learner's own git config.

Step 06 runs git for real: it creates repositories in temporary folders, commits, branches, merges, makes
conflicts, produces patches with ``git format-patch`` and applies them with ``git am``. Every git command
goes through :func:`git` or :meth:`Repo.git`, which

- point ``GIT_CONFIG_GLOBAL`` at the null device and set ``GIT_CONFIG_NOSYSTEM``, so neither the learner's
  ``~/.gitconfig`` nor the system's config is read (a global ``commit.gpgsign`` or pager cannot interfere),
  and nothing is ever written there;
- set the identity in each repository's own ``.git/config`` (``git config user.name`` without ``--global``);
- give commits dates from a per-repository logical clock, so the same steps give the same commit ids on every
  run (and nothing depends on the wall clock);
- run with a timeout, no pager, no editor and no terminal prompt.

Generators for the exercises live here too, so the lesson, the exercise and the tests build the very same
repositories: :func:`make_patch_project` (a small project with a failing test) and
:func:`make_contributor_repo` (a history with several authors, merges, a binary file and an empty commit).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "GitError", "Repo", "git", "run_git", "git_env", "git_version", "init_repo", "clone", "open_repo",
    "temp_dir", "cleanup", "make_patch_project", "run_project_tests", "apply_patch",
    "make_contributor_repo", "make_conflict", "CONFLICT_MARKERS",
]

DEFAULT_NAME = "Course Learner"
DEFAULT_EMAIL = "learner@example.invalid"
START_CLOCK = 1_704_103_200  # 2024-01-01 10:00 UTC: the first commit date of every generated repository
TICK = 60  # seconds the logical clock moves per git command
CONFLICT_MARKERS = ("<<<<<<<", "|||||||", "=======", ">>>>>>>")

_temp_dirs: list[Path] = []


class GitError(RuntimeError):
    """A git command that exited non-zero; ``stdout`` and ``stderr`` say why."""

    def __init__(self, args, returncode: int, stdout: str, stderr: str):
        self.args_ = list(args)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(f"git {' '.join(map(str, args))} exited {returncode}: {(stderr or stdout).strip()}")


def _git_binary() -> str:
    found = shutil.which("git")
    if not found:
        raise FileNotFoundError("git is not installed or not on PATH; step 06 needs a real git (2.32 or later)")
    return found


def git_env(extra: dict | None = None) -> dict:
    """The environment every git command here runs with: no global or system config, no pager, no prompt."""
    env = dict(os.environ)
    for name in [n for n in env if n.startswith("GIT_")]:
        del env[name]  # a GIT_DIR or GIT_AUTHOR_* of the caller's shell must not leak into these repositories
    env.update({
        "GIT_CONFIG_GLOBAL": os.devnull,  # git >= 2.32: ~/.gitconfig and ~/.config/git/config are not read
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_PAGER": "cat",
        "GIT_EDITOR": "true",  # merge --continue, rebase --continue: keep the prepared message
        "LC_ALL": "C",  # English messages, whatever the learner's locale
        "LANGUAGE": "C",
    })
    env.update(extra or {})
    return env


def run_git(*args, cwd, input: str | bytes | None = None, env: dict | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``git *args`` in ``cwd`` and return the completed process, whatever its exit code."""
    return subprocess.run(
        [_git_binary(), *map(str, args)], cwd=str(cwd), input=input, capture_output=True,
        text=not isinstance(input, bytes), env=git_env(env), timeout=timeout, check=False,
    )


def git(*args, cwd, input: str | None = None, env: dict | None = None, timeout: float = 60) -> str:
    """Run ``git *args`` in ``cwd``; return its standard output, or raise :class:`GitError`."""
    done = run_git(*args, cwd=cwd, input=input, env=env, timeout=timeout)
    if done.returncode != 0:
        raise GitError(args, done.returncode, done.stdout, done.stderr)
    return done.stdout


def git_version() -> tuple[int, ...]:
    """The installed git's version as numbers, e.g. ``(2, 39, 5)``."""
    text = git("--version", cwd=tempfile.gettempdir()).split()[2]
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def temp_dir(prefix: str = "course-git-") -> Path:
    """A new temporary folder, removed by :func:`cleanup`."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    _temp_dirs.append(path)
    return path


def cleanup() -> int:
    """Remove every temporary folder this module made; returns how many were removed."""
    removed = 0
    while _temp_dirs:
        path = _temp_dirs.pop()
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


@dataclass
class Repo:
    """A git working tree at ``path``; its commands run with :func:`git_env` and a logical clock."""

    path: Path
    clock: int = START_CLOCK
    history: list[str] = field(default_factory=list, repr=False)

    def _dates(self) -> dict:
        self.clock += TICK
        stamp = f"{self.clock} +0000"
        return {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}

    def run(self, *args, input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        """Run ``git *args`` here and return the completed process (never raises on a non-zero exit)."""
        self.history.append("git " + " ".join(map(str, args)))
        return run_git(*args, cwd=self.path, input=input, env={**self._dates(), **(env or {})})

    def git(self, *args, input: str | None = None, env: dict | None = None) -> str:
        """Run ``git *args`` here; return standard output or raise :class:`GitError`."""
        done = self.run(*args, input=input, env=env)
        if done.returncode != 0:
            raise GitError(args, done.returncode, done.stdout, done.stderr)
        return done.stdout

    def file(self, relpath: str) -> Path:
        return self.path / relpath

    def write(self, relpath: str, content: str | bytes) -> Path:
        """Write a file of the working tree (folders are created); ``bytes`` are written as they are."""
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
        return target

    def read(self, relpath: str) -> str:
        return (self.path / relpath).read_text(encoding="utf-8")

    def commit(self, message: str, files: dict | None = None, *, author: str | None = None,
               allow_empty: bool = False) -> str:
        """Write ``files`` ({path: content}), stage everything, commit; return the new commit's id.

        ``author`` is ``"Name <email>"``; without it the repository's own identity is the author.
        """
        for relpath, content in (files or {}).items():
            self.write(relpath, content)
        self.git("add", "--all")
        args = ["commit", "--quiet", "--message", message]
        if author:
            args += ["--author", author]
        if allow_empty:
            args.append("--allow-empty")
        self.git(*args)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()

    def branch(self) -> str:
        """The current branch's name."""
        return self.git("symbolic-ref", "--short", "HEAD").strip()

    def log(self, *args) -> str:
        """``git log --oneline`` of HEAD (extra arguments are passed on), as text."""
        return self.git("log", "--oneline", "--no-decorate", *args)

    def config(self, key: str) -> str:
        """A value from this repository's own config (``.git/config``), or ``""``."""
        return self.run("config", "--local", "--get", key).stdout.strip()

    def conflicted(self) -> list[str]:
        """Paths with unresolved conflicts."""
        return self.git("diff", "--name-only", "--diff-filter=U").split()


def _set_identity(repo: Repo, name: str, email: str) -> None:
    # Local config only: written to <repo>/.git/config, never to the learner's ~/.gitconfig.
    repo.git("config", "user.name", name)
    repo.git("config", "user.email", email)
    repo.git("config", "commit.gpgsign", "false")
    repo.git("config", "core.autocrlf", "false")


def init_repo(path: str | Path | None = None, *, name: str = DEFAULT_NAME, email: str = DEFAULT_EMAIL,
              branch: str = "main") -> Repo:
    """Create a repository (in a new temporary folder unless ``path`` is given) with a local identity."""
    target = Path(path) if path is not None else temp_dir()
    target.mkdir(parents=True, exist_ok=True)
    git("init", "--quiet", cwd=target)
    git("symbolic-ref", "HEAD", f"refs/heads/{branch}", cwd=target)  # works on git older than `init -b`
    repo = Repo(target)
    _set_identity(repo, name, email)
    return repo


def open_repo(path: str | Path) -> Repo:
    """A :class:`Repo` for an existing working tree."""
    return Repo(Path(path))


def clone(source: Repo | str | Path, path: str | Path | None = None, *, name: str = DEFAULT_NAME,
          email: str = DEFAULT_EMAIL) -> Repo:
    """Clone a local repository (as a contributor clones upstream) and give the clone its own identity."""
    origin = source.path if isinstance(source, Repo) else Path(source)
    target = Path(path) if path is not None else temp_dir() / "clone"
    git("clone", "--quiet", str(origin), str(target), cwd=target.parent)
    repo = Repo(target, clock=source.clock if isinstance(source, Repo) else START_CLOCK)
    _set_identity(repo, name, email)
    return repo


def make_conflict(base: str, ours: str, theirs: str, *, path: str = "requirements.txt",
                  style: str = "merge") -> Repo:
    """A repository in the middle of a conflicted merge: ``path`` was ``base``, main changed it to ``ours``
    and the branch ``theirs`` changed it to ``theirs``. ``style`` is ``merge`` or ``diff3``."""
    repo = init_repo()
    repo.git("config", "merge.conflictStyle", style)
    repo.commit("chore: add " + path, {path: base})
    repo.git("switch", "--quiet", "--create", "theirs")
    repo.commit("build: change " + path + " on a branch", {path: theirs})
    repo.git("switch", "--quiet", "main")
    repo.commit("build: change " + path + " on main", {path: ours})
    done = repo.run("merge", "theirs")
    if done.returncode == 0:
        raise ValueError("these versions merge cleanly: no conflict to resolve")
    return repo


# --- the patch exercise: a small project whose test fails -------------------------------------------------

_SLUG_BUGGY = '''\
# SPDX-License-Identifier: MIT
"""Slugs for URLs: the part of /posts/<slug> that names a post."""

import re


def slugify(title: str) -> str:
    """Turn a title into a URL slug.

    Lowercase ASCII letters and digits are kept (letters are lowercased first). Every run of any other
    characters becomes one hyphen, and the slug neither starts nor ends with a hyphen.
    """
    return re.sub(r"[^a-z0-9]", "-", title.lower())
'''

_SLUG_TESTS = '''\
# SPDX-License-Identifier: MIT
import unittest

from textkit.slug import slugify


class SlugifyTest(unittest.TestCase):
    def test_one_word(self):
        self.assertEqual(slugify("Python"), "python")

    def test_words_are_joined_with_hyphens(self):
        self.assertEqual(slugify("back end"), "back-end")

    def test_punctuation_and_spaces_collapse(self):
        self.assertEqual(slugify("Hello, World!"), "hello-world")


if __name__ == "__main__":
    unittest.main()
'''

_PROJECT_FILES = {
    "README.md": "# textkit\n\nSmall text helpers for web back ends: `slugify` makes URL slugs.\n\n"
                 "Run the tests with `python -m unittest discover -s tests -t .`\n",
    "CONTRIBUTING.md": (
        "# Contributing to textkit\n\n"
        "1. Open an issue first for anything bigger than a bug fix.\n"
        "2. Add or fix a test that shows the problem, then fix the code. Never weaken a test to make it pass.\n"
        "3. One logical change per commit; write the message as a Conventional Commit "
        "(`fix(slug): ...`).\n"
        "4. Send the commit as a patch made with `git format-patch -1`; we apply it with `git am`.\n"
    ),
    "LICENSE": "SPDX-License-Identifier: MIT\n\nCopyright (c) 2024 The textkit authors.\n"
               "The full MIT licence text: https://spdx.org/licenses/MIT.html\n",
    "textkit/__init__.py": '"""textkit: small text helpers."""\n',
    "textkit/slug.py": _SLUG_BUGGY,
    "tests/__init__.py": "",
    "tests/test_slug.py": _SLUG_TESTS,
}


def make_patch_project(path: str | Path | None = None) -> Repo:
    """A fresh clone of the small ``textkit`` project: one commit, and a test that fails on ``slugify``."""
    repo = init_repo(path, name="Textkit Maintainer", email="maintainer@textkit.example")
    repo.commit("feat: first release of textkit with slugify", dict(_PROJECT_FILES))
    repo.git("tag", "v0.1.0")
    _set_identity(repo, DEFAULT_NAME, DEFAULT_EMAIL)  # the learner commits as themself
    return repo


def run_project_tests(repo: Repo | str | Path, *, start: str = "tests",
                      timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the project's unittest suite in a fresh Python process; ``returncode`` 0 means all passed."""
    where = repo.path if isinstance(repo, Repo) else Path(repo)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "unittest", "discover", "-s", start, "-t", "."],
        cwd=str(where), capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )


def apply_patch(repo: Repo, patch: str) -> subprocess.CompletedProcess:
    """Apply a ``git format-patch`` mail with ``git am`` (as a maintainer does); abort cleanly on failure."""
    if not isinstance(patch, str) or not patch.strip():
        raise ValueError("the patch is empty: give the text that git format-patch printed")
    done = repo.run("am", "--keep-cr", input=patch if patch.endswith("\n") else patch + "\n")
    if done.returncode != 0:
        repo.run("am", "--abort")
    return done


# --- the statistics exercise: a history with several authors ----------------------------------------------

_PEOPLE = [
    ("Ada Lovelace", "ada@example.org"),
    ("Grace Hopper", "grace@example.org"),
    ("Linus Example", "linus@example.net"),
    ("Margaret Hamilton", "margaret@example.com"),
    ("Sam Smith", "sam@example.org"),
    ("Sam Smith", "sam.smith@example.net"),  # the same name, another person (another email)
]


def _spelling(rng: random.Random, name: str, email: str) -> str:
    """An author string; sometimes the email is written in capitals, as some clients do."""
    if rng.random() < 0.3:
        email = email.upper() if rng.random() < 0.5 else email.capitalize()
    return f"{name} <{email}>"


def make_contributor_repo(seed: int = 0, *, commits: int = 24, path: str | Path | None = None):
    """A repository with a realistic history, and the plan it was built from.

    The history has several authors (some emails written in other letter cases), feature branches merged
    with merge commits, a binary file, an empty commit and a branch that was never merged. Returns
    ``(repo, plan)``: ``plan`` lists every commit made, each a dict with ``email`` (as written), ``added``,
    ``deleted`` (lines, from what was written), ``merge`` and ``reachable`` (from ``main``'s HEAD).
    """
    rng = random.Random(seed)
    repo = init_repo(path, name="Project Maintainer", email="maintainer@example.org")
    files: dict[str, list[str]] = {}
    plan: list[dict] = []
    serial = 0

    def line() -> str:
        nonlocal serial
        serial += 1
        return f"line {serial}: {rng.choice(['alpha', 'beta', 'gamma', 'delta'])} {rng.randrange(10**6)}"

    def change(author: str, email: str, *, on_branch: bool, reachable: bool = True) -> None:
        kind = rng.choice(["new", "append", "append", "delete", "replace"]) if files else "new"
        added = deleted = 0
        if kind == "new" or (kind in {"delete", "replace"} and not any(len(v) > 2 for v in files.values())):
            name = f"src/module_{len(files) + 1}_{rng.randrange(1000)}.py"
            files[name] = [line() for _ in range(rng.randint(1, 8))]
            added = len(files[name])
            touched = name
        else:
            touched = rng.choice(sorted(files))
            if kind == "append":
                new = [line() for _ in range(rng.randint(1, 6))]
                files[touched] += new
                added = len(new)
            else:
                candidates = sorted(k for k, v in files.items() if len(v) > 2)
                touched = rng.choice(candidates)
                count = rng.randint(1, len(files[touched]) - 1)
                start = rng.randrange(len(files[touched]) - count + 1)
                if kind == "delete":
                    del files[touched][start:start + count]
                    deleted = count
                else:
                    files[touched][start:start + count] = [line() for _ in range(count)]
                    added = deleted = count
        kind_of_change = rng.choice(["feat", "fix", "refactor", "perf", "test", "docs"])
        repo.commit(f"{kind_of_change}: change {Path(touched).stem}", {touched: "\n".join(files[touched]) + "\n"},
                    author=author)
        plan.append({"email": email, "added": added, "deleted": deleted, "merge": False,
                     "reachable": reachable, "branch": on_branch})

    people = list(_PEOPLE)
    repo.commit("chore: start the project", {"README.md": "# demo\n"})
    plan.append({"email": "maintainer@example.org", "added": 1, "deleted": 0, "merge": False,
                 "reachable": True, "branch": False})
    made = 1
    branch_number = 0
    while made < commits:
        roll = rng.random()
        name, email = rng.choice(people)
        author = _spelling(rng, name, email)
        email_written = author[author.index("<") + 1:-1]
        if roll < 0.2:
            # A feature branch: a few commits by one contributor, merged by the maintainer with --no-ff.
            branch_number += 1
            branch = f"feature-{branch_number}"
            repo.git("switch", "--quiet", "--create", branch)
            for _ in range(rng.randint(1, 3)):
                change(author, email_written, on_branch=True)
                made += 1
            repo.git("switch", "--quiet", "main")
            repo.git("merge", "--no-ff", "--quiet", "--message", f"Merge branch '{branch}'", branch)
            plan.append({"email": "maintainer@example.org", "added": 0, "deleted": 0, "merge": True,
                         "reachable": True, "branch": False})
        else:
            change(author, email_written, on_branch=False)
        made += 1
    # A binary file: git log --numstat shows "-" for its lines, which count as zero.
    name, email = rng.choice(people)
    repo.commit("docs: add the logo", {"docs/logo.png": bytes(range(256)) * 4}, author=f"{name} <{email}>")
    plan.append({"email": email, "added": 0, "deleted": 0, "merge": False, "reachable": True, "branch": False})
    # An empty commit still counts as a commit.
    name, email = rng.choice(people)
    repo.commit("ci: trigger a rebuild", author=f"{name} <{email}>", allow_empty=True)
    plan.append({"email": email, "added": 0, "deleted": 0, "merge": False, "reachable": True, "branch": False})
    # A branch that was never merged: its commits are not in main's history.
    repo.git("switch", "--quiet", "--create", "experiment")
    name, email = rng.choice(people)
    snapshot = {k: list(v) for k, v in files.items()}
    change(f"{name} <{email}>", email, on_branch=True, reachable=False)
    files.clear()
    files.update(snapshot)
    repo.git("switch", "--quiet", "main")
    return repo, plan
