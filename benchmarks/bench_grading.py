"""Benchmark: `course grade` against nbgrader's own CLI, and an instant check against `nbgrader validate`.

Run: python benchmarks/bench_grading.py [STEP] [--repeat N]

Both sides grade the same submission (the untouched release of STEP, every part run and failing) in the same
run, on the same machine; the script prints each median and the ratio. Goals (issue "Course foundation"):
- `course grade STEP` wall time <= 0.6 x `nbgrader autograde` (CLI, in a course folder prepared beforehand);
- a visible check in a running kernel < 100 ms and >= 40 x faster than `nbgrader validate` on the notebook.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from course.platform import manifest, paths, workspace  # noqa: E402


def timed(command, cwd) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def nbgrader_course(stem: str, root: Path, submission: Path) -> None:
    """An nbgrader course folder with the assignment generated and one submission, ready to autograde."""
    root.mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", root)
    shutil.copytree(paths.solutions_dir() / stem, root / "solutions" / stem)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", stem, "--force"], cwd=root,
                   check=True, capture_output=True)
    target = root / "submitted" / "learner" / stem
    target.mkdir(parents=True)
    shutil.copy(submission, target / f"{stem}.ipynb")


def check_latency(stem: str, repeat: int) -> float:
    """Median round trip of a visible test cell in a running kernel (solution cells already run)."""
    from jupyter_client.manager import start_new_kernel

    nb = nbformat.read(paths.solution_path(stem), as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
             and not c.metadata["nbgrader"].get("solution")]
    visible = tests[0].source.split("### BEGIN HIDDEN TESTS")[0]
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(paths.solutions_dir() / stem))
    try:
        for cell in nb.cells:
            if cell.cell_type == "code":
                kc.execute_interactive(cell.source, store_history=False, timeout=60, output_hook=lambda m: None)
                if cell is tests[0]:
                    break
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            reply = kc.execute_interactive(visible, store_history=False, timeout=60, output_hook=lambda m: None)
            samples.append(time.perf_counter() - start)
            assert reply["content"]["status"] == "ok", reply["content"]
        return statistics.median(samples)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", nargs="?", default="01")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    stem = manifest.resolve(args.step, need_exercise=True).stem
    load_before = os.getloadavg()[0]
    course_cmd = [str(Path(sys.executable).with_name("course"))]
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        ws = tmp / "ws"
        workspace.sync(ws)
        submission = workspace.exercise_copy(ws, stem)
        nbgrader_course(stem, tmp / "nbgrader-course", submission)
        subprocess.run(course_cmd + ["grade", stem, "--workspace", str(ws)], check=True, capture_output=True)
        ours, theirs = [], []
        for _ in range(args.repeat):  # interleaved, so load on the machine hits both alike
            theirs.append(timed([sys.executable, "-m", "nbgrader", "autograde", stem, "--student", "learner",
                                 "--force"], tmp / "nbgrader-course"))
            ours.append(timed(course_cmd + ["grade", stem, "--workspace", str(ws)], tmp))
        validate = statistics.median(
            timed([sys.executable, "-m", "nbgrader", "validate", str(paths.solution_path(stem))], tmp)
            for _ in range(args.repeat))
    check = check_latency(stem, repeat=20)
    ours_m, theirs_m = statistics.median(ours), statistics.median(theirs)
    print(f"step {stem}, medians of {args.repeat} runs; load average {load_before:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end (load slows both sides, not always alike: compare ratios)")
    print(f"course grade (in-process nbgrader, feedback included): {ours_m:6.2f} s")
    print(f"nbgrader autograde CLI (baseline, no feedback):        {theirs_m:6.2f} s")
    print(f"ratio course/nbgrader: {ours_m / theirs_m:.2f}x (goal <= 0.60x)")
    print(f"visible check in a running kernel: {check * 1000:6.1f} ms (goal < 100 ms)")
    print(f"nbgrader validate CLI (baseline):   {validate * 1000:6.0f} ms")
    print(f"speed-up of the instant check over validate: {validate / check:.0f}x (goal >= 40x)")


if __name__ == "__main__":
    main()
