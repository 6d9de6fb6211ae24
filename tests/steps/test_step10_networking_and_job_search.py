"""course.steps.step10_networking_and_job_search and its data files (every figure sourced and dated), the STAR
rubric, and the exercise's hidden tests against plausible wrong answers and other correct ones."""

from __future__ import annotations

import re

import matplotlib
import pytest

from course import data
from course.steps import step10_networking_and_job_search as jobsearch

matplotlib.use("Agg")

DATE = re.compile(r"^\d{4}(-\d{2})?$")       # a year, or a year and month
PERIOD = re.compile(r"^(\d{4})-(\d{4})$")


def test_every_survey_figure_has_a_source_and_an_as_of_date():
    rows = data.load("survey_figures.csv")
    assert rows
    for row in rows:
        where = f"{row['year']} {row['item']}"
        assert row["source"].strip(), where
        assert DATE.match(row["as_of"]), where
        assert row["as_of"][:4] == row["year"], where            # a survey's figures describe its own year
        if row["second_hand"] == "true":
            assert row["via"].strip(), f"{where}: a second-hand figure names the page it was read from"


def test_every_career_fact_has_a_source_and_an_as_of_date():
    facts = data.load("careers_facts.yaml")["facts"]
    assert facts
    keys = [f["key"] for f in facts]
    assert len(keys) == len(set(keys)), "keys are unique"
    for fact in facts:
        assert str(fact.get("source", "")).strip(), fact["key"]
        assert DATE.match(str(fact.get("as_of", ""))), fact["key"]
        assert isinstance(fact["value"], int | float) and not isinstance(fact["value"], bool), fact["key"]
        assert str(fact.get("unit", "")).strip() and str(fact.get("label", "")).strip(), fact["key"]
        if fact.get("second_hand"):
            assert str(fact.get("via", "")).strip(), f"{fact['key']}: second-hand without the page read"
        if "period" in fact:
            start, end = map(int, PERIOD.match(fact["period"]).groups())
            assert end - start == 10 and str(start) == fact["as_of"], fact["key"]


def test_survey_figures_load_typed_and_plausible():
    frame = jobsearch.survey_figures()
    assert set(frame["respondents"]) <= {"all", "professional", "not stated"}
    assert frame["share_pct"].between(0, 100).all()
    assert frame["year"].dtype.kind == "i"
    assert not frame.duplicated(["year", "respondents", "category", "item"]).any()
    assert frame["approximate"].dtype == bool and frame["approximate"].any()


def test_career_facts_load_with_defaults_and_fact_looks_one_up():
    facts = jobsearch.career_facts()
    assert facts.index.is_unique
    assert (facts["via"] != "").sum() == facts["second_hand"].sum()
    pay = jobsearch.fact("software_developers_median_pay_2024")
    assert (pay["value"], pay["as_of"], pay["unit"]) == (133080, "2024-05", "USD a year")
    with pytest.raises(KeyError, match="no career fact"):
        jobsearch.fact("astronaut_pay")


def test_sources_note_and_caption_name_every_source_and_date():
    frame = jobsearch.survey_figures()
    databases = frame[frame["category"] == "database"]
    note = jobsearch.sources_note(databases)
    for source in databases["source"].unique():
        assert source in note
    assert "as of 2024" in note and "as of 2025" in note and "pigsty.io" in note
    import matplotlib.pyplot as plt

    fig, _ = plt.subplots(layout="constrained")
    try:
        assert "as of 2024" in jobsearch.caption(fig, databases).get_text()
    finally:
        plt.close(fig)


GOOD_STAR = {
    "situation": "Our team's booking API lost some bookings in the pilot.",
    "task": "I owned the reservation endpoints, so the bug was mine.",
    "action": "I wrote a failing test that booked two rooms in the same minute and reproduced the loss. "
              "I read the debug log, found that the key used the time only, added the room to the key and "
              "a unique constraint, and I wrote tests for midnight and daylight-saving changes.",
    "result": "No booking was lost in the 6 weeks after, and the 4 new tests run in CI.",
}


def test_star_problems_accepts_a_well_built_answer():
    assert jobsearch.star_problems(GOOD_STAR) == []


@pytest.mark.parametrize(("change", "fragment"), [
    ({"action": GOOD_STAR["action"].replace("I ", "we ")}, "first person"),
    ({"result": "No booking was lost after that, and the new tests run in CI."}, "number"),
    ({"task": "Fix it now."}, "at least 5"),
    ({"situation": "word " * 60}, "40%"),
    ({"result": "in " * 80 + "3"}, "longest"),
    ({"action": "I " + "did it " * 150}, "between 80 and 300"),
    ({"task": "   "}, "empty"),
])
def test_star_problems_names_each_broken_rule(change, fragment):
    problems = jobsearch.star_problems({**GOOD_STAR, **change})
    assert any(fragment in p for p in problems), problems


def test_star_problems_needs_exactly_the_four_parts():
    assert "exactly the four parts" in jobsearch.star_problems({"situation": "x"})[0]
    assert "exactly the four parts" in jobsearch.star_problems("Situation: x")[0]
    assert jobsearch.star_problems({**GOOD_STAR, "extra": "x"})


# --- the exercise: rules its hidden checks hold the learner to are stated, failures name the input -----------

def _exercise_cells():
    import nbformat

    from course.platform import paths

    nb = nbformat.read(paths.solution_path("10-networking-and-job-search"), as_version=4)
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}


def test_the_exercise_states_the_rules_its_hidden_checks_demand():
    cells = _exercise_cells()
    assert "spaces\n  before its colon" in cells["star_instructions"]
    assert "SITUATION : s1" in cells["to_star_splits_notes"]
    assert "Leave `figures` as it was" in cells["share_change_instructions"]
    assert "the input frame is not changed" in cells["share_change_rules"]
    # Parts F to H: what their hidden checks hold the learner to
    assert "a run of whitespace (a line break too) counts as one space" in cells["cv_instructions"]
    assert '`"Worked on"` does, `"Worked overtime"` does not' in cells["cv_instructions"]
    assert "Call `is_bad` only with `1 ≤ v ≤ n`" in cells["phone_screen_instructions"]
    assert "also when `n` is 0" in cells["phone_screen_instructions"]
    assert "At most `4 × len(nums) + 10` operations" in cells["phone_screen_instructions"]
    assert "(a day has 86,400 seconds)" in cells["design_instructions"]
    assert "the checks pass other assumptions too" in cells["design_instructions"]


def test_a_valueerror_on_a_valid_input_fails_a_check_that_names_the_input(capsys):
    cells = _exercise_cells()
    namespace = {}
    exec(cells["setup"], namespace)  # noqa: S102 - the exercise's own setup cell

    def strict(text):
        raise ValueError("my own message")

    with pytest.raises(AssertionError) as failed:
        namespace["result_for"]("spaces before the colon", strict, "RESULT : r1")
    shown = str(failed.value) + capsys.readouterr().out
    assert "spaces before the colon" in shown and "RESULT : r1" in shown and "my own message" in shown
    for cell in ("to_star_splits_notes", "share_change_on_survey_figures", "share_change_rules"):
        hidden = cells[cell].split("### BEGIN HIDDEN TESTS")[1]
        calls = re.findall(r"(?<![\w.])(?:to_star|share_change)\(", hidden)
        assert not calls, f"{cell}: a call on a valid input goes through result_for, so a ValueError names it"


def test_no_unsourced_claim_about_how_jobs_are_filled_or_screened():
    """Issue 19: "many jobs are filled through people" and "many employers screen applications with software"
    had no primary source; the lesson and Part D now say that no figure is given, and why."""
    import nbformat

    from course.platform import paths

    lesson = "\n".join(c.source for c in nbformat.read(paths.lesson_path("10-networking-and-job-search"),
                                                       as_version=4).cells)
    assert "Many jobs are filled through people" not in lesson
    assert "This course gives no share for either path" in lesson
    part_d = _exercise_cells()["match_score_instructions"]
    assert "Many employers screen" not in part_d
    assert "how many do is not measured" in part_d


def test_stored_values_reads_every_table_from_a_new_process(tmp_path):
    import sqlite3

    path = tmp_path / "odd name.db"
    with sqlite3.connect(path) as connection:
        connection.execute('CREATE TABLE "job ""apps""" (id INTEGER, company TEXT, note TEXT)')
        connection.execute('INSERT INTO "job ""apps""" VALUES (1, \'Acme\', NULL)')
        connection.execute("CREATE TABLE other (status TEXT)")
        connection.execute("INSERT INTO other VALUES ('offer')")
    connection.close()
    assert sorted(jobsearch.stored_values(path)) == ["1", "Acme", "offer"]
    with pytest.raises(RuntimeError, match="new process"):
        jobsearch.stored_values(tmp_path / "missing.db")


# --- the exercise's hidden tests against plausible wrong answers (and another right one) ----------------------

STEM = "10-networking-and-job-search"


ANSWERS = ["setup", "tracker_statuses", "tracker", "due_follow_ups", "match_score_skills", "match_score", "to_star"]


@pytest.fixture(scope="module")
def part_runner():
    from factories import part_runner as run_parts

    with run_parts(STEM, ANSWERS) as run:
        yield run


def _answer(grade_id):
    from factories import graded_cells, without_solution_markers

    return without_solution_markers(graded_cells(STEM)[grade_id])


IN_MEMORY_TRACKER = '''
import sqlalchemy as sa

_ROWS = {}   # the applications of each database URL, in this kernel's memory only


def open_tracker(url):
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS applications (id INTEGER PRIMARY KEY)")
    _ROWS.setdefault(str(engine.url), {})
    return engine


def _rows(engine):
    return _ROWS[str(engine.url)]


def _row(engine, app_id):
    if app_id not in _rows(engine):
        raise KeyError(app_id)
    return _rows(engine)[app_id]


def add_application(engine, company, role, applied_on):
    if not company.strip() or not role.strip():
        raise ValueError("empty")
    app_id = len(_rows(engine)) + 1
    _rows(engine)[app_id] = {"id": app_id, "company": company.strip(), "role": role.strip(),
                             "applied_on": applied_on, "status": "applied", "last_contact": None}
    return app_id


def set_status(engine, app_id, status):
    if status.lower() not in STATUSES:
        raise ValueError(status)
    _row(engine, app_id)["status"] = status.lower()


def log_contact(engine, app_id, on):
    _row(engine, app_id)["last_contact"] = on


def get_application(engine, app_id):
    return dict(_row(engine, app_id))
'''


@pytest.mark.slow
def test_part_b_a_tracker_kept_in_memory_loses_marks(part_runner):
    assert part_runner("tracker_stores_applications")
    assert not part_runner("tracker_stores_applications", tracker=IN_MEMORY_TRACKER)


def test_part_c_equal_waits_go_by_id_not_by_name(part_runner):
    source = _answer("due_follow_ups")
    old = "key=lambda item: (-item[3], item[0])"
    assert old in source
    assert part_runner("due_follow_ups_reminds")
    assert not part_runner("due_follow_ups_reminds", due_follow_ups=source.replace(old, "key=lambda item: (-item[3], item[1])"))
    assert not part_runner("due_follow_ups_reminds", due_follow_ups=source.replace(old, "key=lambda item: (-item[3], item[2])"))
    stable = source.replace(old, "key=lambda item: item[3], reverse=True")   # a stable sort on rows read by id
    assert part_runner("due_follow_ups_reminds", due_follow_ups=stable)


def test_part_d_rounds_to_the_nearest_not_always_up(part_runner):
    source = _answer("match_score")
    old = "int(100 * len(matched) / len(wanted) + 0.5)"
    assert old in source
    ceil = source.replace(old, "-(-100 * len(matched) // len(wanted))")
    assert not part_runner("match_score_finds_skills", match_score=ceil)
    assert part_runner("match_score_finds_skills")


def test_part_e_a_label_needs_its_colon(part_runner):
    source = _answer("to_star")
    old = r"[ \t]*:[ \t]*"
    assert old in source
    optional = source.replace(old, r"\b[ \t]*:?[ \t]*")
    assert not part_runner("to_star_splits_notes", to_star=optional)
    assert part_runner("to_star_splits_notes")




# --- Parts F to H: the hidden tests run with plain exec on a copy of the setup's namespace (no IPython shell to
# reset): these parts use nothing of parts A to E, and a run costs milliseconds instead of about a second.

LATE_ANSWERS = ["cv_weak_starts", "bullet_problems", "my_cv", "first_bad", "best_window", "complexity_debrief",
                "design_assumptions", "capacity", "my_decisions"]


@pytest.fixture(scope="module")
def quick():
    from factories import graded_cells, without_solution_markers

    cells = graded_cells(STEM)
    base = {"__name__": "__main__"}
    exec(compile(cells["setup"], "setup", "exec"), base)  # noqa: S102 - the exercise's own setup cell

    def run(test_id: str, **answers: str) -> bool:
        namespace = dict(base)
        for grade_id in LATE_ANSWERS:
            source = answers[grade_id] if grade_id in answers else without_solution_markers(cells[grade_id])
            exec(compile(source, grade_id, "exec"), namespace)  # noqa: S102 - an answer under test
        try:
            exec(compile(cells[test_id], test_id, "exec"), namespace)  # noqa: S102 - the exercise's test cell
        except Exception:  # noqa: BLE001 - a failed check (AssertionError) or an error in the answer: no marks
            return False
        return True

    return run


# --- Part F: the bullet rubric and the learner's CV ------------------------------------------------------------

def _replace(grade_id: str, old: str, new: str) -> str:
    source = _answer(grade_id)
    assert old in source, (grade_id, old)
    return source.replace(old, new)


BULLET_BY_WORDS = '''
def bullet_problems(text):
    words = str(text).lower().split()
    joined = " " + " ".join(words) + " "
    found = []
    if len(words) < 4 or len(words) > 30:
        found.append("length")
    if not any(ch.isdigit() and ch in "0123456789" for ch in joined):
        found.append("number")
    padded = re.sub(r"[^\\w-]", " ", joined)
    if any(f" {word} " in f" {padded} " for word in jobsearch.cv.BUZZWORDS):
        found.append("buzzword")
    if any(words[:len(o.split())] == o.split() for o in WEAK_STARTS):
        found.append("weak start")
    return found
'''


@pytest.mark.parametrize(("answer", "rules", "edges"), [
    (None, True, True),
    (BULLET_BY_WORDS, True, True),
    (("flat = \" \".join(str(text).lower().split())", "flat = str(text).lower()"), True, False),
    (("re.search(rf\"(?<![\\w-]){re.escape(word)}(?![\\w-])\", flat)", "word in flat"), True, False),
    (("re.match(rf\"{re.escape(opening)}(?![\\w-])\", flat)", "flat.startswith(opening)"), True, False),
    (("re.match(rf\"{re.escape(opening)}(?![\\w-])\", flat)", "flat.split()[:1] == opening.split()[:1]"),
     True, False),
    (("    if not re.search(r\"[0-9]\", flat):\n        problems.append(\"number\")\n", ""), False, True),
    (("if not 4 <= len(flat.split()) <= 30:", "if not 4 < len(flat.split()) < 30:"), True, False),
], ids=["reference", "word lists", "no whitespace runs", "substring buzzword", "startswith", "first word only",
        "no number rule", "strict bounds"])
def test_part_f_bullet_rubric_wrong_answers_lose_marks(quick, answer, rules, edges):
    if isinstance(answer, tuple):
        answer = _replace("bullet_problems", *answer)
    answers = {} if answer is None else {"bullet_problems": answer}
    assert quick("bullet_problems_rules", **answers) is rules
    assert quick("bullet_problems_edges", **answers) is edges


def test_part_f_the_cv_is_graded_on_the_rubric_and_a_local_portfolio_path_counts(quick, tmp_path,
                                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert quick("my_cv_passes_the_rubric")
    assert "Alex Example" in (tmp_path / "cv.html").read_text()
    (tmp_path / "cv.html").unlink()
    cv = _answer("my_cv")
    buzz = cv.replace("Back-end developer in training", "Passionate back-end developer in training")
    assert not quick("my_cv_passes_the_rubric", my_cv=buzz)
    assert not (tmp_path / "cv.html").exists(), "a CV that fails the rubric is not rendered"
    local = cv.replace('"url": "https://github.com/alex-example/booking-api"', '"url": "portfolio/index.html"')
    assert not quick("my_cv_passes_the_rubric", my_cv=local)          # the page is not in the folder
    (tmp_path / "portfolio").mkdir()
    (tmp_path / "portfolio" / "index.html").write_text("<h1>booking-api</h1>")
    assert quick("my_cv_passes_the_rubric", my_cv=local)              # now it is: a local link counts
    absolute = cv.replace('"url": "https://github.com/alex-example/booking-api"', f'"url": "{tmp_path}/portfolio"')
    assert not quick("my_cv_passes_the_rubric", my_cv=absolute)
    no_numbers = re.sub(r"\d+(?=[^\n]*\", *$|[^\n]*\"\])", "many", cv, flags=re.M)
    assert no_numbers != cv and not quick("my_cv_passes_the_rubric", my_cv=no_numbers)
    assert not quick("my_cv_passes_the_rubric", my_cv="MY_CV = {}")


# --- Part G: the phone screen ----------------------------------------------------------------------------------

FIRST_BAD_LINEAR = '''
def first_bad(n, is_bad):
    for v in range(1, n + 1):
        if is_bad(v):
            return v
    return None
'''
FIRST_BAD_BISECT = '''
import bisect


def first_bad(n, is_bad):
    v = bisect.bisect_left(range(1, n + 1), True, key=is_bad) + 1
    return v if v <= n else None
'''
FIRST_BAD_RECURSIVE = '''
def first_bad(n, is_bad, low=1, high=None):
    high = n if high is None else high
    if low > high:
        return None
    middle = (low + high) // 2
    if is_bad(middle):
        earlier = first_bad(n, is_bad, low, middle - 1)
        return middle if earlier is None else earlier
    return first_bad(n, is_bad, middle + 1, high)
'''
FIRST_BAD_CLOSED = '''
def first_bad(n, is_bad):
    low, high = 1, n
    while low < high:
        middle = (low + high) // 2
        if is_bad(middle):
            high = middle
        else:
            low = middle + 1
    return low if is_bad(low) else None
'''


@pytest.mark.parametrize(("answer", "passes"), [
    (None, True), (FIRST_BAD_BISECT, True), (FIRST_BAD_RECURSIVE, True),
    (FIRST_BAD_LINEAR, False),
    (FIRST_BAD_CLOSED, False),                                     # n = 0 calls is_bad(1)
    (("low, high = 1, n + 1", "low, high = 1, n"), False),         # misses "bad only at n"
    (("return low if low <= n else None", "return low"), False),   # n + 1 when none is bad
], ids=["reference", "bisect", "recursive", "linear scan", "is_bad(1) on n=0", "misses the last", "n+1 for none"])
def test_part_g_first_bad(quick, answer, passes):
    if isinstance(answer, tuple):
        answer = _replace("first_bad", *answer)
    answers = {} if answer is None else {"first_bad": answer}
    assert quick("first_bad_checks", **answers) is passes


WINDOW_NAIVE = '''
def best_window(nums, k):
    if not 1 <= k <= len(nums):
        raise ValueError("k")
    return max(sum(nums[i:i + k]) for i in range(len(nums) - k + 1))
'''
WINDOW_PREFIX = '''
import itertools


def best_window(nums, k):
    if k < 1 or k > len(nums):
        raise ValueError("k out of range")
    prefix = [0, *itertools.accumulate(nums)]
    return max(prefix[i + k] - prefix[i] for i in range(len(nums) - k + 1))
'''


@pytest.mark.parametrize(("answer", "passes"), [
    (None, True), (WINDOW_PREFIX, True),
    (WINDOW_NAIVE, False),
    (("for i in range(k, len(nums)):", "for i in range(k, len(nums) - 1):"), False),
    (("best = window\n", "best = 0\n"), False),
    (("if not 1 <= k <= len(nums):", "if k > len(nums):"), False),
], ids=["reference", "prefix sums", "sum per window", "misses the last window", "starts from 0", "k=0 allowed"])
def test_part_g_best_window(quick, answer, passes):
    if isinstance(answer, tuple):
        answer = _replace("best_window", *answer)
    answers = {} if answer is None else {"best_window": answer}
    assert quick("best_window_checks", **answers) is passes


@pytest.mark.parametrize(("answers", "passes"), [
    ({}, True),
    ({"complexity_debrief": 'MY_COMPLEXITY = {"first_bad": "o( log(n) )", "best_window": "O(N)"}'}, True),
    ({"complexity_debrief": 'MY_COMPLEXITY = {"first_bad": "O(n)", "best_window": "O(n)"}'}, False),
    ({"complexity_debrief": 'MY_COMPLEXITY = {"first_bad": "O(log n)", "best_window": "O(n*k)"}'}, False),
    ({"complexity_debrief": 'MY_COMPLEXITY = {"first_bad": "O(log n)"}'}, False),
    # an honest debrief of a slow answer keeps its point (the answer loses its own)
    ({"best_window": WINDOW_NAIVE, "complexity_debrief":
      'MY_COMPLEXITY = {"first_bad": "O(log n)", "best_window": "O(n²)"}'}, True),
    ({"best_window": WINDOW_NAIVE}, False),
    ({"first_bad": FIRST_BAD_LINEAR}, False),
], ids=["reference", "spelt differently", "linear search claimed", "not a class", "one missing",
        "honest about a quadratic answer", "quadratic claimed linear", "linear claimed log"])
def test_part_g_the_debrief_is_graded_against_the_measured_growth(quick, answers, passes):
    assert quick("complexity_debrief_matches", **answers) is passes


# --- Part H: capacity and trade-offs ---------------------------------------------------------------------------

@pytest.mark.parametrize(("old", "new", "passes"), [
    (None, None, True),
    ("    length = 1\n    while 62**length < links:\n        length += 1\n",
     "    length = math.ceil(math.log(links, 62))\n", True),
    ('"writes_per_s": writes,', '"writes_per_s": float(f"{writes:.3g}"),', True),       # rounded: 3 figures
    ('a["new_links_per_day"] / 86_400', 'a["new_links_per_day"] / 100_000', False),     # "about 10^5 s a day"
    ('links = a["new_links_per_day"] * 365 * a["years"]', 'links = a["new_links_per_day"] * 365', False),
    ('"cache_bytes": a["hot_share"] * a["new_links_per_day"] * a["reads_per_write"] * a["record_bytes"]',
     '"cache_bytes": a["hot_share"] * links * a["record_bytes"]', False),               # 20% of all storage
    ('"read_bandwidth_bytes_per_s": reads * a["response_bytes"]',
     '"read_bandwidth_bytes_per_s": reads * a["peak_factor"] * a["response_bytes"]', False),
    ("    length = 1\n    while 62**length < links:\n        length += 1\n",
     "    length = int(math.log(links, 62))\n", False),                                  # floor
    ("    length = 1\n    while 62**length < links:\n        length += 1\n",
     "    length = round(math.log(links, 62))\n", False),
    ("    a = assumptions\n", "    a = jobsearch.design.ASSUMPTIONS\n", False),           # ignores its input
], ids=["reference", "ceil of the log", "rounded", "1e5 seconds", "one year", "cache of storage", "peak bandwidth",
        "floor length", "rounded length", "fixed assumptions"])
def test_part_h_capacity(quick, old, new, passes):
    answer = {} if old is None else {"capacity": "import math\n" + _replace("capacity", old, new)}
    assert quick("capacity_checks", **answer) is passes


HASH_KEY = [('{"choice": "counter in base 62",', '{"choice": "hash of the URL",'),
            ("a counter never collides, and", "a hash of the URL is short, and")]


@pytest.mark.parametrize(("changes", "passes"), [
    ([], True),
    ([('{"choice": "302",', '{"choice": "301",')], False),
    ([('{"choice": "cache-aside",', '{"choice": "no cache",')], False),
    ([("about 2,315 redirects", "many redirects")], False),
    ([("about \"\n                         \"913 GB", "a lot of \"\n                         \"space")], False),
    (HASH_KEY, False),                                                                  # names no collision
    ([*HASH_KEY, ("the next link, which", "a collision is retried with a salt, which")], True),
    ([("about \"\n                         \"913 GB", "about \"\n                         \"0.91 TB")], True),
], ids=["reference", "301 with click counts", "no cache over one database", "cache without the number",
        "store without the number", "hash without collisions", "hash with collisions handled", "storage in TB"])
def test_part_h_tradeoffs(quick, changes, passes):
    answer = _answer("my_decisions")
    for old, new in changes:
        assert old in answer, old
        answer = answer.replace(old, new)
    assert quick("my_decisions_rubric", my_decisions=answer) is passes
