"""course.steps.step10_networking_and_job_search and its data files: every figure sourced and dated, the STAR rubric, the week-plan check."""

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


ACTIVITIES = [
    {"name": "meetup", "minutes": 120, "per_week": 1, "days": ["Thu"]},
    {"name": "forum", "minutes": 20, "per_week": 2},
]
AVAILABLE = {"Mon": 30, "Thu": 150}


def _plan(**days):
    return {day: list(days.get(day, [])) for day in jobsearch.WEEKDAYS}


def test_schedule_problems_accepts_a_valid_plan():
    assert jobsearch.schedule_problems(_plan(Mon=["forum"], Thu=["meetup", "forum"]), ACTIVITIES, AVAILABLE) == []


@pytest.mark.parametrize(("plan", "fragment"), [
    (_plan(Mon=["forum"], Tue=["meetup"], Thu=["forum"]), "cannot happen on Tue"),
    (_plan(Thu=["meetup", "forum", "forum"]), "more than once"),
    (_plan(Mon=["forum", "forum"], Thu=["meetup"]), "40 minutes planned, 30 available"),
    (_plan(Mon=["forum"], Thu=["meetup"]), "planned 1 times; it needs 2"),
    (_plan(Mon=["forum"], Thu=["meetup", "forum", "yoga"]), "not one of the activities"),
    ({"Mon": ["forum"]}, "one key per weekday"),
])
def test_schedule_problems_names_each_broken_rule(plan, fragment):
    problems = jobsearch.schedule_problems(plan, ACTIVITIES, AVAILABLE)
    assert any(fragment in p for p in problems), problems


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
