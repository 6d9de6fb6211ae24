"""Benchmark: autograde a class of 30 with nbgrader's CLI (one student after another) and with
`course classroom autograde --jobs 2`, and check both give the same scores.

Run: python benchmarks/bench_classroom.py [STEP] [--students N] [--jobs N]

One class folder is made (step released, N generated submissions: a third correct answers from the solution,
a third wrong answers, a third the blank release); each side grades a fresh copy of it, in the same run, on
the same machine. Printed: both wall times, the ratio (goal, issue 10: >= 1.7x on 2 cores) and whether every
student's every cell got the same score. Nothing is asserted on time: a shared or busy machine is slower.
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

        sequential = copy_of(template, Path(tmp) / "sequential")
        start = time.perf_counter()
        subprocess.run([nbgrader, "autograde", stem], cwd=sequential.root, check=True, capture_output=True,
                       timeout=3600)
        nbgrader_time = time.perf_counter() - start
        print(f"nbgrader autograde (CLI, sequential):            {nbgrader_time:7.1f} s")

        parallel = copy_of(template, Path(tmp) / "parallel")
        start = time.perf_counter()
        subprocess.run([course, "classroom", "autograde", args.step, "--jobs", str(args.jobs),
                        "--course-dir", str(parallel.root)], check=True, capture_output=True, timeout=3600)
        course_time = time.perf_counter() - start
        print(f"course classroom autograde --jobs {args.jobs}:              {course_time:7.1f} s")

        ratio = nbgrader_time / course_time
        print(f"speed-up: {ratio:.2f}x (goal >= 1.7x on 2 cores) {'met' if ratio >= 1.7 else 'NOT met'}")
        expected, got = scores(sequential, stem), scores(parallel, stem)
        same = expected == got and len(got) > 0
        print(f"scores identical: {'yes' if same else 'NO'} ({len(got)} cells of {args.students} students)")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
