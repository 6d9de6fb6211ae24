"""course.steps.step09_practical_experience.workbench: the colleague's modules of step 09, pytest runs, mutants, pdb transcripts and CI steps."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

from course.steps import step09_practical_experience as practice


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def module(tmp_path):
    def load(name):
        return _load(practice.write_module(name, tmp_path), f"practice_{name}_{id(tmp_path)}")
    return load


def test_every_source_compiles_and_unknown_names_are_listed():
    for name, text in practice.SOURCES.items():
        compile(text, f"{name}.py", "exec")
    with pytest.raises(KeyError, match="billing"):
        practice.source("nope")


def test_billing_has_the_lesson_bug_and_its_fix_is_one_line(module):
    billing = module("billing")
    assert sum(billing.split_bill(1000, 3)) == 999          # the bug the lesson finds
    fixed = practice.source("billing").replace("range(remainder - 1)", "range(remainder)")
    assert fixed != practice.source("billing")
    namespace = {}
    exec(compile(fixed, "billing.py", "exec"), namespace)
    assert namespace["split_bill"](1001, 3) == [334, 334, 333]


def test_shop_has_the_four_bugs_of_the_exercise(module):
    shop = module("shop")
    assert shop.page_slice(list(range(50)), 1, 20) != list(range(20))    # page offset
    assert shop.page_slice(list(range(50)), 0, 20) == list(range(20))    # page 0 accepted
    assert shop.line_total(125, 1, 10) == 113                             # half rounds to even
    assert shop.parse_tags("b, a, , b") == ["", "a", "b"]                 # order lost, empty kept


def test_ranges_follows_its_docstring(module):
    ranges = module("ranges")
    cases = {("bytes=0-499", 1000): (0, 499), ("bytes=500-", 1000): (500, 999), ("bytes=-300", 1000): (700, 999),
             ("bytes=-5000", 1000): (0, 999), ("bytes=990-5000", 1000): (990, 999), ("BYTES = 1 - 2", 10): (1, 2)}
    for (header, size), expected in cases.items():
        assert ranges.parse_range(header, size) == expected, header
    for header in ("items=0-1", "bytes=", "bytes=-", "bytes=5-1", "bytes=0-1,3-4", "bytes=a-1"):
        with pytest.raises(ValueError) as info:
            ranges.parse_range(header, 1000)
        assert not isinstance(info.value, ranges.RangeNotSatisfiable), header
    for header, size in (("bytes=1000-", 1000), ("bytes=-0", 10), ("bytes=0-", 0), ("bytes=-5", 0)):
        with pytest.raises(ranges.RangeNotSatisfiable):
            ranges.parse_range(header, size)


def test_sessions_reproduces_bug_214(module):
    sessions = module("sessions")
    assert sessions.parse_cookie("theme=dark; session=eyJ1c2VyIjo0Mn0=; lang=en")["session"] == "eyJ1c2VyIjo0Mn0"


@pytest.mark.slow
def test_run_pytest_reads_the_summary_of_a_real_run(tmp_path):
    practice.write_module("billing", tmp_path)
    practice.write_module("test_billing", tmp_path)
    run = practice.run_pytest(tmp_path)
    assert run.counts == {"failed": 1, "passed": 1}
    assert run.failed_cleanly and not run.passed
    assert "\x1b[" not in run.output
    assert run.summary().startswith("1 failed, 1 passed")


@pytest.mark.slow
@pytest.mark.parametrize("verbose", ["-v", "-vv", "--verbose"])
def test_run_pytest_lists_the_tests_when_asked_for_verbose_output(tmp_path, verbose):
    practice.write_module("billing", tmp_path)
    practice.write_module("test_billing", tmp_path)
    run = practice.run_pytest(tmp_path, verbose)
    named = [line for line in run.output.splitlines() if "::" in line]
    assert len(named) >= 2 and all(("PASSED" in line or "FAILED" in line) for line in named[:2]), run.output
    assert run.counts == {"failed": 1, "passed": 1}


# Patterns of real providers' credentials, as secret scanners match them: none may appear in what learners push.
_LIVE_SECRET = re.compile(r"(?:sk|rk|pk)_live_[0-9A-Za-z]{10,}|AKIA[0-9A-Z]{16}|gh[pousr]_[0-9A-Za-z]{30,}"
                          r"|xox[abprs]-[0-9A-Za-z-]{10,}|AIza[0-9A-Za-z_-]{35}")


def test_no_lesson_or_exercise_holds_a_string_shaped_like_a_live_credential():
    root = Path(practice.__file__).resolve().parents[3]
    files = [*root.glob("notebooks/*.ipynb"), *root.glob("solutions/*/*.ipynb"), *root.glob("exercises/*/*.ipynb")]
    assert files
    found = {str(f.relative_to(root)): _LIVE_SECRET.findall(f.read_text()) for f in files}
    assert not {name: hits for name, hits in found.items() if hits}


@pytest.mark.slow
def test_run_tests_against_isolates_the_run_and_reads_files_back(monkeypatch):
    monkeypatch.setenv("PYTEST_ADDOPTS", "--no-such-option")   # an outer pytest's options must not leak in
    run = practice.run_tests_against({"test_x.py": "def test_x():\n    assert True\n"}, "--junitxml=r.xml",
                                     read_back=("r.xml", "missing.txt"))
    assert run.passed, run.output
    assert set(run.files) == {"r.xml"} and "<testcase" in run.files["r.xml"]


@pytest.mark.slow
def test_a_run_that_never_ends_is_stopped():
    run = practice.run_tests_against({"test_loop.py": "def test_loop():\n    while True:\n        pass\n"},
                                     timeout=3)
    assert run.timed_out and not run.passed
    assert run.summary() == "timed out"


@pytest.mark.slow
def test_the_run_timeout_scales_on_a_slow_machine(monkeypatch):
    """A 2 s limit is 60 s on a machine COURSE_SLOWNESS calls 30 times slower: a 3 s test run finishes."""
    monkeypatch.setenv("COURSE_SLOWNESS", "30")
    run = practice.run_tests_against({"test_slow.py": "import time\n\ndef test_slow():\n    time.sleep(3)\n"},
                                     timeout=2)
    assert run.passed and not run.timed_out, run.output


@pytest.mark.slow
def test_run_many_keeps_the_order_of_its_jobs():
    jobs = [{"test_a.py": f"def test_a():\n    assert {ok}\n"} for ok in (True, False, True)]
    assert [run.passed for run in practice.run_many(jobs)] == [True, False, True]


def test_mutants_change_one_thing_each_and_compile():
    source = "def f(a, b):\n    if a < b:\n        return a + 1\n    return b\n"
    found = practice.mutants(source)
    assert [m.change for m in found] == ["< became <=", "+ became -", "1 became 2", "1 became 0"]
    for mutant in found:
        ast.parse(mutant.source)
        assert mutant.source != ast.unparse(ast.parse(source))
    assert len({m.source for m in found}) == len(found)
    assert practice.mutants("def g():\n    return 1\n\ndef h():\n    return 2 < 3\n", only_in="h")[0].change == \
        "< became <="


@pytest.mark.slow
def test_mutation_report_shows_what_a_suite_misses():
    fixed = practice.source("billing").replace("range(remainder - 1)", "range(remainder)")
    report = practice.mutation_report("billing", fixed, {"test_billing.py": practice.source("test_billing")},
                                      only_in="split_bill")
    survivors = {row["change"] for row in report if not row["killed"]}
    assert "< became <=" in survivors                    # nothing tests people == 1
    assert any(row["killed"] for row in report)


def test_pdb_transcript_shows_values_at_a_breakpoint(module):
    billing = module("billing")
    path = billing.__file__
    line = next(n for n, text in enumerate(Path(path).read_text().splitlines(), 1) if "for i in" in text)
    text = practice.pdb_transcript(billing.split_bill, 1000, 3,
                                   commands=[f"break {path}:{line}", "continue", "p share, remainder"])
    assert "(333, 1)" in text
    assert not re.search("\x1b\\[", text)


@pytest.mark.slow
def test_run_ci_stops_at_the_first_failing_step(tmp_path):
    (tmp_path / "ok.py").write_text("x = 1\n")
    results = practice.run_ci([("compile", ["python", "-m", "compileall", "-q", "."]),
                               ("fail", ["python", "-c", "raise SystemExit(3)"]),
                               ("never", ["python", "-c", "print('no')"])], tmp_path)
    assert [(r["step"], r["ok"]) for r in results] == [("compile", True), ("fail", False)]


def test_review_checklist_ids_are_kebab_case_questions():
    assert len(practice.REVIEW_CHECKLIST) >= 8
    for item, question in practice.REVIEW_CHECKLIST.items():
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", item)
        assert question.endswith("?")


# --- the exercise's hidden tests against plausible wrong answers (and other right ones) ----------------------

STEM = "09-practical-experience"


@pytest.fixture
def part_runner(tmp_path, monkeypatch):
    """Run the setup cell and the given answers, then one test cell, in a fresh IPython namespace."""
    from factories import part_runner as run_parts

    monkeypatch.chdir(tmp_path)   # the setup cell writes the colleague's modules into the current folder
    with run_parts(STEM, ["setup", "page_slice", "line_total", "parse_tags", "review_diff", "review_findings",
                          "summarize_junit"]) as run:
        yield run


def _answer(grade_id):
    from factories import graded_cells, without_solution_markers

    return without_solution_markers(graded_cells(STEM)[grade_id])


LINE_TOTALS = {
    "always up (ceil)": "import math\n\ndef line_total(unit_cents, quantity, discount_percent=0):\n"
                        "    gross = unit_cents * quantity\n"
                        "    return gross - math.ceil(gross * discount_percent / 100)\n",
    "half to even (round)": "def line_total(unit_cents, quantity, discount_percent=0):\n"
                            "    gross = unit_cents * quantity\n    return gross - round(gross * discount_percent / 100)\n",
    "always down": "def line_total(unit_cents, quantity, discount_percent=0):\n"
                   "    gross = unit_cents * quantity\n    return gross - gross * discount_percent // 100\n",
}


@pytest.mark.parametrize("wrong", sorted(LINE_TOTALS))
def test_part_a_rounding_direction_is_told_apart(part_runner, wrong):
    assert not part_runner("line_total_fixed", line_total=LINE_TOTALS[wrong])


def test_part_a_half_up_in_decimal_keeps_full_marks(part_runner):
    decimal = ("from decimal import ROUND_HALF_UP, Decimal\n\ndef line_total(unit_cents, quantity, discount_percent=0):\n"
               "    gross = unit_cents * quantity\n"
               "    off = (Decimal(gross) * discount_percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)\n"
               "    return gross - int(off)\n")
    assert part_runner("line_total_fixed", line_total=decimal)
    assert part_runner("line_total_fixed")


def test_part_a_tags_keep_their_inner_spaces(part_runner):
    squeezed = ("def parse_tags(text):\n    tags = [t.lower() for t in text.replace(' ', '').split(',')]\n"
                "    return list(dict.fromkeys(t for t in tags if t))\n")
    words = ("import re\n\ndef parse_tags(text):\n"
             "    return list(dict.fromkeys(w.lower() for w in re.findall(r'\\w+', text)))\n")
    assert not part_runner("parse_tags_fixed", parse_tags=squeezed)
    assert not part_runner("parse_tags_fixed", parse_tags=words)
    assert part_runner("parse_tags_fixed")


JUNIT_WRONG = {
    # every child of a suite taken for a test case: <properties> and <system-out> are counted
    "children of a suite": ('for case in root.iter("testcase"):',
                            'for case in [c for s in ([root] if root.tag == "testsuite" else list(root)) for c in s]:'),
    # the outcome read from the first child only: <properties> before <skipped> reads as a pass
    "first child only": ('if case.find("error") is not None:',
                         'first = case[0].tag if len(case) else ""\n'
                         '        if first == "error":'),
}


@pytest.mark.slow
@pytest.mark.parametrize("wrong", sorted(JUNIT_WRONG))
def test_part_e_reports_with_properties_and_output_are_read_right(part_runner, wrong):
    old, new = JUNIT_WRONG[wrong]
    source = _answer("summarize_junit")
    assert old in source
    if wrong == "first child only":
        new_source = source.replace(old, new).replace('elif case.find("failure") is not None:', 'elif first == "failure":')
        new_source = new_source.replace('elif case.find("skipped") is not None:', 'elif first == "skipped":')
    else:
        new_source = source.replace(old, new)
    assert not part_runner("summarize_junit_counts_test_cases", summarize_junit=new_source)


REVIEW_CELLS = ("review_findings_net_3", "review_findings_net_5", "review_findings_every_problem")
RIGHT = ["sql-injection", "secret-in-code", "swallowed-error", "no-timeout", "query-in-loop", "missing-tests"]


@pytest.mark.parametrize(("findings", "points"), [
    (set(), 0),
    (set(practice.REVIEW_CHECKLIST), 0),             # the whole checklist: 6 right, 4 wrong
    (set(RIGHT[:2]), 0),
    (set(RIGHT[:3]), 1),
    ({*RIGHT[:4], "debug-leftover"}, 1),
    (set(RIGHT[:5]), 2),
    ({*RIGHT, "wrong-status"}, 2),
    (set(RIGHT), 3),
    (tuple(RIGHT), 3),                               # a tuple of the ids is accepted, as the check says
])
def test_part_d_earns_partial_credit_and_never_rewards_naming_everything(part_runner, findings, points):
    answer = f"FINDINGS = {findings!r}\n"
    assert sum(part_runner(cell, review_findings=answer) for cell in REVIEW_CELLS) == points


def test_part_d_feedback_shows_both_the_count_found_and_the_wrong_ids(part_runner, capsys):
    from factories import graded_cells

    cell = graded_cells(STEM)["review_findings_every_problem"]
    namespace = {"FINDINGS": {"sql-injection", "no-timeout", "debug-leftover"}}
    exec("from course import all_checks, check, check_that", namespace)  # noqa: S102
    with pytest.raises(AssertionError) as failed:
        exec(cell, namespace)  # noqa: S102 - the exercise's own test cell
    assert "2 of the diff's problems named" in str(failed.value)
    assert "debug-leftover" in str(failed.value)
