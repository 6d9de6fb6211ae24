"""Benchmark: autograde a class of 30 with nbgrader's CLI (one student after another), with
`course classroom autograde --jobs 2` in the grading sandbox, and with it outside the sandbox; check all three
give the same scores.

Run: python benchmarks/bench_classroom.py [STEP] [--students N] [--jobs N] [--repeat N]

One class folder is made (step released, N generated submissions: a third correct answers from the solution,
a third wrong answers, a third the blank release); each side grades a fresh copy of it, in the same run, on
the same machine (the best of ``--repeat`` runs each, sides taken in turn). Printed: the wall times, the
speed-up of `--jobs 2` in the sandbox over sequential nbgrader (goal, issue 10: >= 1.7x on 2 cores), the
sandbox's cost against the same command without it (goal, issue 14: <= 1.15x), and whether every student's
every cell got the same score on every side. Nothing is asserted on time: a shared or busy machine is slower.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from course.classroom import core as classroom  # noqa: E402
from course.classroom.samples import make_class  # noqa: E402


def copy_of(template: Path, dest: Path) -> classroom.Classroom:
    shutil.copytree(template, dest)
    return classroom.init(dest)  # re-points the copy's config (root, gradebook, exchange) at itself


def scores(room: classroom.Classroom, stem: str) -> dict:
    """Every student's every cell: (automatic score, needs manual grade), read through nbgrader's API."""
    with room.gradebook() as gradebook:
        return {(sub.student_id, grade.name): (grade.auto_score, grade.needs_manual_grade)
                for sub in gradebook.find_assignment(stem).submissions
                for notebook in sub.notebooks for grade in notebook.grades}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", nargs="?", default="01")
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side; the best is kept")
    args = parser.parse_args()
    stem = classroom.resolve_stem(args.step)
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    course = str(Path(sys.executable).parent / "course")
    with tempfile.TemporaryDirectory(prefix="bench-classroom-") as tmp:
        template = Path(tmp) / "template"
        room = classroom.init(template)
        classroom.release(room, stem)
        kinds = make_class(template, stem, args.students, seed=1)
        counts = {kind: list(kinds.values()).count(kind) for kind in sorted(set(kinds.values()))}
        print(f"{stem}: {args.students} submissions ({', '.join(f'{n} {k}' for k, n in counts.items())}), "
              f"{os.cpu_count()} CPU(s)")

        from course.grading.sandbox import available

        ok, how = available()
        if not ok:
            print(f"cannot measure the sandbox here: {how}")
            return 2
        print(how)
        sides = {
            "nbgrader autograde (CLI, sequential)": lambda root: [nbgrader, "autograde", stem],
            f"course classroom autograde --jobs {args.jobs}": lambda root: [
                course, "classroom", "autograde", args.step, "--jobs", str(args.jobs), "--course-dir", str(root)],
            "  the same, --no-sandbox": lambda root: [
                course, "classroom", "autograde", args.step, "--jobs", str(args.jobs), "--course-dir", str(root),
                "--no-sandbox"],
        }
        best, rooms = {}, {}
        for run in range(args.repeat):
            for index, (name, command) in enumerate(sides.items()):
                room = copy_of(template, Path(tmp) / f"side{index}-run{run}")
                start = time.perf_counter()
                subprocess.run(command(room.root), cwd=room.root, check=True, capture_output=True, timeout=3600)
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
                rooms[name] = room
        for name, seconds in best.items():
            print(f"{name + ':':48} {seconds:7.1f} s")
        nbgrader_time, sandboxed, unsandboxed = best.values()
        ratio = nbgrader_time / sandboxed
        print(f"speed-up, in the sandbox: {ratio:.2f}x (goal >= 1.7x on 2 cores) {'met' if ratio >= 1.7 else 'NOT met'}")
        cost = sandboxed / unsandboxed
        print(f"the sandbox's cost: {cost:.2f}x (goal <= 1.15x) {'met' if cost <= 1.15 else 'NOT met'}")
        got = [scores(room, stem) for room in rooms.values()]
        same = all(g == got[0] for g in got) and len(got[0]) > 0
        print(f"scores identical: {'yes' if same else 'NO'} ({len(got[0])} cells of {args.students} students, "
              f"{len(got)} ways)")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
