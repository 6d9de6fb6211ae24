"""The career-fit quiz: its data, its scoring (personas, bad input, determinism), saving, the terminal quiz and
the widget driven as a learner would (the terminal quiz: test_terminal.py) (the browser test drives it in JupyterLab)."""

from __future__ import annotations

import html
import json
import random
import re

import pytest

from course import data
from course.platform import manifest
from course.platform.progress import ProgressStore
from course.steps.step11_fit_quiz_and_certifications import quiz, terminal
from course.steps.step11_fit_quiz_and_certifications.widget import QuizWidget, profile_png, result_html

ITEMS = quiz.load_items()
IDS = [item.id for item in ITEMS]

# Personas: what a careers adviser would expect each to be told (dimension -> how much they enjoy it).
DATA_AND_DEBUGGING = {"data": 1.0, "systems": 1.0, "I": 0.9, "C": 0.7, "quality": 0.6, "security": 0.6,
                      "infrastructure": 0.4, "visual": 0.0, "people": 0.1, "A": 0.1}
VISUAL_AND_USERS = {"visual": 1.0, "A": 0.9, "people": 1.0, "S": 0.4, "product": 0.6, "data": 0.0,
                    "systems": 0.1, "infrastructure": 0.0}
RUNNING_INFRASTRUCTURE = {"infrastructure": 1.0, "R": 0.5, "systems": 0.8, "security": 0.5, "C": 0.6,
                          "visual": 0.0, "people": 0.2}


def uniform(value: int) -> dict[str, int]:
    return dict.fromkeys(IDS, value)


# ----------------------------------------------------------------------------------------------- data

def test_items_are_between_30_and_48_original_statements_with_known_dimensions():
    assert 30 <= len(ITEMS) <= 48
    assert len(set(IDS)) == len(IDS)
    assert len({item.text for item in ITEMS}) == len(ITEMS)
    for item in ITEMS:
        assert item.text.strip() and item.dimensions, item.id
        assert set(item.dimensions) <= set(quiz.DIMENSIONS), item.id
        assert all(w != 0 and -1 <= w <= 1 for w in item.dimensions.values()), item.id


def test_every_dimension_is_measured_by_several_items():
    for dim in quiz.DIMENSIONS:
        positive = [i for i in ITEMS if i.dimensions.get(dim, 0) > 0]
        assert len(positive) >= (4 if dim in quiz.RIASEC else 3), dim


def test_required_dimensions_and_scale():
    assert set("RIASEC") <= set(quiz.DIMENSIONS)
    assert {"data", "systems", "visual", "infrastructure", "security", "analysis", "quality", "people",
            "product"} <= set(quiz.DIMENSIONS)
    assert quiz.scale_labels() == {1: "Strongly dislike", 2: "Dislike", 3: "Unsure", 4: "Like", 5: "Strongly like"}
    dims = quiz.load_dimensions()
    stems = {s.stem for s in manifest.load_manifest()}
    for dim, entry in dims.items():
        assert entry["label"] and entry["describes"], dim
        assert set(entry["steps"]) <= stems, dim


def test_careers_cover_the_required_ids_and_one_outside_software():
    careers = quiz.load_careers()
    ids = {c.id for c in careers}
    assert len(careers) >= 12
    assert {"backend-developer", "frontend-developer", "fullstack-developer", "devops-engineer", "data-engineer",
            "database-administrator", "security-engineer", "qa-engineer", "data-scientist", "ux-designer",
            "product-manager"} <= ids
    assert any(c.outside_software for c in careers)


def test_career_profiles_are_sourced_or_reasoned_and_rescaled():
    raw = quiz._careers_file()
    occupations = raw["occupations"]
    for career in quiz.load_careers():
        assert set(career.profile) == set(quiz.DIMENSIONS), career.id
        assert all(0 <= v <= 1 for v in career.profile.values()), career.id
        for dim in quiz.TECH:
            assert career.basis[dim].startswith("judgement: ") and len(career.basis[dim]) > 20, (career.id, dim)
        for code in career.onet:
            assert code in occupations, (career.id, code)
        for dim in quiz.RIASEC:
            assert career.basis[dim].startswith(("O*NET ", "judgement: ")), (career.id, dim)
    backend = next(c for c in quiz.load_careers() if c.id == quiz.BACKEND)
    assert backend.onet == ("15-1252",)
    assert backend.profile["I"] == pytest.approx((6.05 - 1) / 6, abs=1e-4)
    assert backend.profile["C"] == pytest.approx((5.62 - 1) / 6, abs=1e-4)
    assert backend.profile["data"] == 1.0
    fullstack = next(c for c in quiz.load_careers() if c.id == "fullstack-developer")
    assert fullstack.profile["I"] == pytest.approx(((6.05 + 5.01) / 2 - 1) / 6, abs=1e-4)


def test_onet_values_match_the_reference_and_carry_the_credit_line():
    frame = quiz.onet_interests().set_index("soc")
    assert frame.loc["15-1252", ["R", "I", "A", "S", "E", "C"]].tolist() == [3.61, 6.05, 2.37, 1.81, 1.87, 5.62]
    assert frame.loc["15-1242", "C"] == 6.61
    assert frame.loc["15-1299.09", ["E", "C"]].tolist() == [5.91, 5.31]  # the two values in the reference facts
    credit = quiz.credit()
    assert "O*NET 30.2 Database" in credit and "CC BY 4.0" in credit and "modified" in credit
    assert "judgement" not in credit  # no O*NET interest is filled in by the course any more


def test_teacher_and_electrician_use_onet_interest_profiles_not_judgements():
    frame = quiz.onet_interests().set_index("soc")
    assert frame.loc["25-2031.00", ["R", "I", "A", "S", "E", "C"]].tolist() == [2.73, 3.19, 3.77, 7.00, 2.90, 3.61]
    assert frame.loc["25-2031.00", "high_point"] == "S"
    assert frame.loc["47-2111.00", ["R", "I", "A", "S", "E", "C"]].tolist() == [7.00, 2.70, 1.24, 1.32, 1.81, 4.09]
    assert frame.loc["47-2111.00", "high_point"] == "RC"
    careers = {c.id: c for c in quiz.load_careers()}
    assert careers["secondary-school-teacher"].onet == ("25-2031.00",)
    assert careers["electrician"].onet == ("47-2111.00",)
    assert careers["secondary-school-teacher"].profile["S"] == 1.0  # O*NET's 7.00 on the 1-7 scale
    for career in careers.values():
        for dim in quiz.RIASEC:
            assert career.basis[dim].startswith("O*NET "), (career.id, dim)


def test_the_onet_dates_are_the_sources_own_and_the_retrieval_day_is_labelled_so():
    onet = quiz._careers_file()["onet"]
    assert str(onet["data_date"]) == "2026-02" and str(onet["retrieved"]) == "2026-11-23"
    assert "as_of" not in onet
    facts = data.load("careers_facts.yaml")
    assert str(facts["retrieved"]) == "2026-11-23"
    assert all(str(f["as_of"]) != "2026-11-23" for f in facts["facts"])  # as_of is the figure's own date


# ----------------------------------------------------------------------------------------------- personas

def test_someone_who_loves_data_models_and_debugging_fits_back_end_work():
    result = quiz.score(quiz.answers_for(DATA_AND_DEBUGGING))
    top3 = [c.career_id for c in result.top(3)]
    assert quiz.BACKEND in top3
    assert set(top3) <= {"backend-developer", "data-engineer", "database-administrator", "security-engineer",
                         "fullstack-developer"}
    assert result.backend_fit >= 80
    assert result.rank_of("ux-designer") > len(result.ranking) // 2
    shared = {r.dimension for r in result.fit_of(quiz.BACKEND).reasons if r.kind == "shared"}
    assert {"data", "systems"} <= shared


def test_someone_who_loves_visual_design_and_users_is_pointed_to_ux():
    result = quiz.score(quiz.answers_for(VISUAL_AND_USERS))
    assert result.ranking[0].career_id == "ux-designer"
    assert result.rank_of("frontend-developer") < result.rank_of(quiz.BACKEND)
    assert result.rank_of(quiz.BACKEND) > len(result.ranking) - 3
    assert result.backend_fit < 50
    gaps = {r.dimension for r in result.fit_of(quiz.BACKEND).reasons if r.kind == "gap"}
    assert gaps & {"data", "systems"}


def test_someone_who_loves_running_infrastructure_is_pointed_to_devops():
    result = quiz.score(quiz.answers_for(RUNNING_INFRASTRUCTURE))
    assert result.ranking[0].career_id == "devops-engineer"
    assert result.rank_of(quiz.BACKEND) < result.rank_of("ux-designer")


@pytest.mark.parametrize(("preferences", "expected"), [
    ({"security": 1.0, "systems": 0.7, "I": 0.8, "infrastructure": 0.5, "C": 0.6}, "security-engineer"),
    ({"quality": 1.0, "C": 0.9, "I": 0.6, "systems": 0.5}, "qa-engineer"),
    ({"analysis": 1.0, "I": 1.0, "data": 0.7, "visual": 0.4}, "data-scientist"),
    ({"product": 1.0, "E": 1.0, "people": 0.9, "analysis": 0.4}, "product-manager"),
    ({"S": 1.0, "people": 1.0, "A": 0.6, "E": 0.5, "I": 0.5}, "secondary-school-teacher"),
    ({"R": 1.0, "infrastructure": 0.6, "C": 0.6, "quality": 0.6, "systems": 0.4}, "electrician"),
])
def test_other_personas_land_on_the_expected_career(preferences, expected):
    assert quiz.score(quiz.answers_for(preferences)).ranking[0].career_id == expected


def test_back_end_fit_orders_the_personas():
    fits = [quiz.score(quiz.answers_for(p)).backend_fit
            for p in (DATA_AND_DEBUGGING, RUNNING_INFRASTRUCTURE, VISUAL_AND_USERS)]
    assert fits == sorted(fits, reverse=True) and fits[0] - fits[2] > 30


def test_hand_written_answers_without_the_persona_helper():
    back_end_items = {"q01", "q02", "q16", "q17", "q31", "q32", "q44", "q11", "q26"}
    dislikes = {"q03", "q22", "q27", "q37", "q42", "q08", "q23", "q38", "q13"}
    answers = {i: 5 if i in back_end_items else 1 if i in dislikes else 3 for i in IDS}
    result = quiz.score(answers)
    assert quiz.BACKEND in [c.career_id for c in result.top(3)]
    assert result.profile["data"] > 0.75 and result.profile["visual"] < 0.25


# ----------------------------------------------------------------------------------------------- bad input

def test_missing_items_are_named():
    answers = uniform(3)
    del answers["q07"], answers["q30"]
    with pytest.raises(ValueError, match=r"missing answer\(s\) for: q07, q30"):
        quiz.score(answers)


def test_unknown_ids_are_named():
    with pytest.raises(ValueError, match=r"unknown item id\(s\): q99, zz"):
        quiz.score({**uniform(3), "q99": 3, "zz": 4})


@pytest.mark.parametrize("bad", [0, 6, -1, 3.5, "3", None, True])
def test_values_outside_one_to_five_are_named(bad):
    with pytest.raises(ValueError, match=r"whole numbers from 1 to 5: q05="):
        quiz.score({**uniform(3), "q05": bad})


def test_every_problem_is_reported_at_once_and_non_dicts_are_refused():
    answers = {**uniform(4), "q01": 9, "nope": 1}
    del answers["q44"]
    with pytest.raises(ValueError) as error:
        quiz.score(answers)
    message = str(error.value)
    assert "nope" in message and "q44" in message and "q01=9" in message
    with pytest.raises(ValueError, match="dict"):
        quiz.score([3] * len(IDS))
    with pytest.raises(ValueError, match="unknown dimension"):
        quiz.answers_for({"cooking": 1.0})


# ----------------------------------------------------------------------------------------------- determinism

def test_same_answers_same_result_whatever_the_order():
    rng = random.Random(11)
    answers = {i: rng.randint(1, 5) for i in IDS}
    first = quiz.score(answers)
    shuffled = dict(sorted(answers.items(), key=lambda kv: rng.random()))
    assert quiz.score(shuffled) == first
    assert quiz.score(dict(answers)).to_dict() == first.to_dict()
    assert json.loads(json.dumps(first.to_dict())) == json.loads(json.dumps(quiz.score(answers).to_dict()))


def test_fits_stay_within_0_and_100_and_ranking_is_sorted():
    rng = random.Random(5)
    for answers in [uniform(1), uniform(5), *({i: rng.randint(1, 5) for i in IDS} for _ in range(30))]:
        result = quiz.score(answers)
        fits = [c.fit for c in result.ranking]
        assert all(0 <= f <= 100 for f in fits)
        assert fits == sorted(fits, reverse=True)
        assert result.backend_fit == result.fit_of(quiz.BACKEND).fit
        assert all(0 <= v <= 1 for v in result.profile.values())


def test_reverse_keyed_items_count_the_other_way():
    alone = quiz.score({**uniform(3), "q43": 5}).profile["people"]
    together = quiz.score({**uniform(3), "q43": 1}).profile["people"]
    assert alone < together


def test_flat_answers_are_flagged_and_varied_ones_are_not():
    assert quiz.score(uniform(3)).notes
    assert not quiz.score(quiz.answers_for(DATA_AND_DEBUGGING)).notes
    assert quiz.score(uniform(3)).fit_of(quiz.BACKEND).shape == 0.0


def test_fit_words_and_next_steps():
    assert [quiz.fit_words(f) for f in (90, 70, 55, 20)] == ["a strong fit", "a good fit", "a partial fit",
                                                              "a weak fit"]
    assert quiz.fit_words(79.6) == "a strong fit"  # shown as 80: the words follow the figure the learner sees
    assert quiz.fit_words(79.4) == "a good fit"
    no_data = quiz.score(quiz.answers_for({**DATA_AND_DEBUGGING, "data": 0.0}))
    steps = quiz.next_steps(no_data)
    stems = {s.stem for s in manifest.load_manifest()}
    assert steps and all(s["stem"] in stems and s["why"] for s in steps)
    assert steps[0]["stem"] == "04-databases" and steps[0]["dimension"] == "Data"


# ----------------------------------------------------------------------------------------------- saving

def test_save_and_reload_through_the_progress_store(tmp_path):
    result = quiz.score(quiz.answers_for(RUNNING_INFRASTRUCTURE))
    assert quiz.load_saved(tmp_path) is None
    quiz.save(result, tmp_path)
    assert quiz.load_saved(tmp_path) == result
    with ProgressStore(tmp_path) as store:
        payload = store.load_result("quiz")
    assert payload["answers"] == result.answers and payload["backend_fit"] == result.backend_fit


def test_answers_saved_for_other_items_are_not_reloaded(tmp_path):
    with ProgressStore(tmp_path) as store:
        store.save_result("quiz", {"items_version": -1, "answers": uniform(3)})
    assert quiz.load_saved(tmp_path) is None


# ----------------------------------------------------------------------------------------------- widget

def test_widget_walks_through_the_quiz_with_words_for_feedback(tmp_path):
    ui = QuizWidget(workspace=tmp_path)
    assert "Question 1 of" in ui.counter.value and ui.back_button.disabled
    ui.next_button.click()
    assert "Not answered yet" in ui.feedback.value and ui.index == 0
    answers = quiz.answers_for(VISUAL_AND_USERS)
    for item in ui.items:
        ui.answer(answers[item.id])
        assert ui.feedback.value == f"Your answer: {quiz.scale_labels()[answers[item.id]]}."
        ui.next_button.click()
    assert ui.result == quiz.score(answers)
    assert ui.progress.value == len(IDS) and ui.progress_text.value == f"{len(IDS)} of {len(IDS)} answered"
    assert ui.next_button.description == "See my result"
    assert "Back-end fit" in ui.result_view.value and "ux" in ui.result_view.value.lower()
    assert bytes(ui.chart.value).startswith(b"\x89PNG")
    assert "course-quiz-result" in ui.result_box._dom_classes
    assert quiz.load_saved(tmp_path) == ui.result


def test_widget_back_button_keeps_answers_and_reload_restores_them(tmp_path):
    ui = QuizWidget(workspace=tmp_path)
    ui.answer(5)
    ui.next_button.click()
    ui.answer(2)
    ui.back_button.click()
    assert ui.index == 0 and ui.choices.value == 5 and ui.feedback.value == "Your answer: Strongly like."
    ui.next_button.click()
    assert ui.choices.value == 2
    assert ui.reload() is None and "No saved answers" in ui.feedback.value

    saved = quiz.score(quiz.answers_for(DATA_AND_DEBUGGING))
    quiz.save(saved, tmp_path)
    again = QuizWidget(workspace=tmp_path)
    assert again.reload_button in again.children[1].children
    again.reload_button.click()
    assert again.result == saved and again.answers == saved.answers
    assert "Back-end fit" in again.result_view.value
    again.restart_button.click()
    assert again.answers == {} and again.index == 0 and again.result_box.children == ()


def test_widget_sends_the_learner_back_to_an_unanswered_question(tmp_path):
    ui = QuizWidget(workspace=tmp_path, save=False)
    for item in ui.items[:-1]:
        ui.answers[item.id] = 3
    del ui.answers["q05"]
    ui.go(len(ui.items) - 1)
    ui.answer(4)
    ui.next_button.click()
    assert ui.result is None and ui.items[ui.index].id == "q05" and "still need an answer" in ui.feedback.value
    ui.answer(4)
    ui.go(len(ui.items) - 1)
    ui.next_button.click()
    assert ui.result is not None and quiz.load_saved(tmp_path) is None  # save=False kept it out of the store


def test_result_html_and_chart_explain_in_words():
    result = quiz.score(quiz.answers_for(DATA_AND_DEBUGGING))
    text = result_html(result, saved_to="/x/progress.db")
    assert "Back-end fit: " in text and quiz.fit_words(result.backend_fit) in text
    assert "not a validated test" in text and "CC BY 4.0" in text
    assert "Certifications that suit" in text and "portfolio" in text
    assert "/x/progress.db" in text
    assert profile_png(result).startswith(b"\x89PNG")


# ----------------------------------------------------------------------------------------------- never contradict

def test_one_rounding_rule_halves_up():
    assert [quiz.shown(v) for v in (86.5, 86.45, 86.7, 0.5, 99.5, 12.0)] == [87, 86, 87, 1, 100, 12]


def test_the_terminal_and_the_notebook_show_the_same_figures():
    rng = random.Random(3)
    for _ in range(40):
        result = quiz.score({i: rng.randint(1, 5) for i in IDS})
        lines = terminal.result_lines(result)
        if result.discriminating:
            assert not [line for line in lines[:6] if re.search(r"\b\d+\.\d\b", line)]  # no 86.7 beside 87
            figure = quiz.shown(result.backend_fit)
            assert lines[0].startswith(f"Back-end fit: {figure}/100")
            assert f"Back-end fit: {figure}/100" in result_html(result)


def test_the_printed_method_states_every_threshold_the_code_uses():
    method = quiz.METHOD
    assert "weight 40 %" in method and "weight 60 %" in method
    assert f"{100 * quiz.ENJOY:g} or more" in method and "3.5 of 5" in method
    assert f"{100 * quiz.DISLIKE:g} or less" in method
    assert f"at {100 * quiz.HIGH:g} or more" in method
    assert f"{100 * quiz.GAP:g} points or more" in method
    assert f"less than {100 * quiz.FLAT:g} points" in method and f"none reaches {100 * quiz.ENJOY:g}" in method
    for low, words in quiz.FIT_WORDS[:-1]:
        assert f"{low} or more is {words}" in method
    assert "below 50 a weak fit" in method
    assert method in "".join(terminal.result_lines(quiz.score(quiz.answers_for(DATA_AND_DEBUGGING))))
    assert html.escape(method) in result_html(quiz.score(quiz.answers_for(DATA_AND_DEBUGGING)))


FLAT_PERSONAS = {
    "all strongly dislike": uniform(1), "all dislike": uniform(2), "all unsure": uniform(3),
    "all like": uniform(4), "all strongly like": uniform(5),
    "unsure with two likes": {**uniform(3), "q01": 4, "q02": 4},
    "like or strongly like at random": {i: random.Random(7).choice((4, 5)) for i in IDS},
    "dislike or strongly dislike at random": {i: random.Random(8).choice((1, 2)) for i in IDS},
    "unsure, dislike or strongly dislike at random": {i: random.Random(9).choice((1, 2, 3)) for i in IDS},
    # varied (visual design strongly disliked, the rest unsure) but enjoying nothing: no career can suit
    "enjoys nothing": {item.id: 1 if item.dimensions.get("visual", 0) > 0 else 3 for item in ITEMS},
}


def test_agreeing_with_everything_reads_as_flat_despite_the_reverse_keyed_items():
    for value in (1, 5):
        result = quiz.score(uniform(value))
        assert max(result.profile.values()) - min(result.profile.values()) > 0.1  # the reverse-keyed items
        assert result.spread == 0.0 and not result.discriminating
    enjoys_nothing = quiz.score(FLAT_PERSONAS["enjoys nothing"])
    assert enjoys_nothing.spread >= quiz.FLAT and "you enjoy none of the 15 dimensions" in enjoys_nothing.headline()
    rng = random.Random(21)
    negative = [quiz.score({i: rng.choice((1, 2, 3)) for i in IDS}) for _ in range(100)]
    assert not any(r.discriminating for r in negative)  # nobody who likes nothing is told a career suits them


@pytest.mark.parametrize("name", list(FLAT_PERSONAS))
def test_flat_answers_say_they_do_not_discriminate_and_claim_no_fit(name):
    result = quiz.score(FLAT_PERSONAS[name])
    assert not result.discriminating
    text = "\n".join(terminal.result_lines(result)) + result_html(result)
    assert "do not tell the careers apart" in text
    text = text.replace(quiz.METHOD, "").replace(html.escape(quiz.METHOD), "")  # the method names every band
    assert not re.search(r"strong fit|good fit|partial fit|weak fit", text), name
    assert "Back-end fit:" not in text
    assert quiz.next_steps(result) == []
    assert "Certifications that suit" not in result_html(result)


def _all_texts(result):
    reasons = [r for entry in result.ranking for r in entry.reasons]
    return reasons, quiz.next_steps(result)


def _check_never_contradicts(result):
    reasons, steps = _all_texts(result)
    for reason in reasons:
        if "you enjoy it" in reason.text:
            assert reason.you >= quiz.ENJOY, reason
        if "you dislike it" in reason.text:
            assert reason.you <= quiz.DISLIKE, reason
        if reason.kind == "gap":
            assert reason.career - reason.you >= quiz.GAP - 1e-9, reason
    for step in steps:
        assert "furthest" not in step["why"]
        if step["kind"] in {"strength", "interest"}:
            assert step["you"] >= 100 * quiz.ENJOY - 0.5 and "you enjoy" in step["why"], step
        else:
            assert step["career"] - step["you"] >= 100 * quiz.GAP - 1, step
            assert "you enjoy" not in step["why"] or step["you"] >= 100 * quiz.ENJOY - 0.5, step
        assert f"{step['you']}/100" in step["why"] and f"{step['career']}/100" in step["why"], step


def test_dislike_twice_and_unsure_four_times_on_visual_design_is_never_enjoyment():
    visual_items = [item.id for item in ITEMS if item.dimensions.get("visual", 0) > 0]
    assert len(visual_items) == 6
    answers = dict(quiz.answers_for(DATA_AND_DEBUGGING))
    answers.update(dict.fromkeys(visual_items[:2], 2))
    answers.update(dict.fromkeys(visual_items[2:], 3))
    result = quiz.score(answers)
    assert result.profile["visual"] < quiz.ENJOY
    reasons, _ = _all_texts(result)
    assert not [r.text for r in reasons if r.dimension == "visual" and "enjoy" in r.text]
    _check_never_contradicts(result)


def test_no_result_claims_enjoyment_under_the_threshold():
    rng = random.Random(15)
    answer_sets = [quiz.answers_for(p) for p in PERSONAS.values()]
    answer_sets += [{i: rng.randint(1, 5) for i in IDS} for _ in range(150)]
    answer_sets += [{i: rng.choice((2, 3, 3, 4)) for i in IDS} for _ in range(100)]  # mixed, mostly unsure
    for answers in answer_sets:
        _check_never_contradicts(quiz.score(answers))


PERSONAS = {
    "data and debugging": DATA_AND_DEBUGGING,
    "visual and users": VISUAL_AND_USERS,
    "running infrastructure": RUNNING_INFRASTRUCTURE,
    "security": {"security": 1.0, "systems": 0.7, "I": 0.8, "infrastructure": 0.5, "C": 0.6},
    "testing": {"quality": 1.0, "C": 0.9, "I": 0.6, "systems": 0.5},
    "statistics": {"analysis": 1.0, "I": 1.0, "data": 0.7, "visual": 0.4},
    "product": {"product": 1.0, "E": 1.0, "people": 0.9, "analysis": 0.4},
    "teaching": {"S": 1.0, "people": 1.0, "A": 0.6, "E": 0.5, "I": 0.5},
    "hands-on": {"R": 1.0, "infrastructure": 0.6, "C": 0.6, "quality": 0.6, "systems": 0.4},
}


def test_distinct_personas_get_distinct_next_steps_that_follow_their_answers():
    plans = {name: quiz.next_steps(quiz.score(quiz.answers_for(p))) for name, p in PERSONAS.items()}
    assert all(len(plan) == 3 for plan in plans.values())
    stems = {name: tuple(s["stem"] for s in plan) for name, plan in plans.items()}
    assert len(set(stems.values())) == len(PERSONAS), stems
    assert len({frozenset(s) for s in stems.values()}) >= len(PERSONAS) - 1, stems
    # someone who loves back-end work is told to build on it, not that it is where they are furthest away
    assert {s["kind"] for s in plans["data and debugging"]} == {"strength"}
    assert [s["dimension"] for s in plans["data and debugging"]][:2] == ["Data", "Systems"]
    # someone whose interests lie elsewhere is shown the back-end core to try, and one step for what they enjoy
    assert [s["kind"] for s in plans["teaching"]] == ["gap", "gap", "interest"]
    assert plans["teaching"][2]["stem"] in {"06-open-source", "10-networking-and-job-search"}
    assert plans["hands-on"][2]["dimension"] == "Realistic"


def test_a_step_rated_strongly_like_is_never_called_a_gap():
    likes_data = quiz.score({**quiz.answers_for(VISUAL_AND_USERS), "q01": 5, "q16": 5, "q31": 5, "q15": 5})
    steps = {s["dimension"]: s for s in quiz.next_steps(likes_data)}
    assert "Data" not in steps or steps["Data"]["kind"] == "strength"


def test_result_html_marks_no_career_twice_and_shows_no_nan():
    text = result_html(quiz.score(quiz.answers_for(DATA_AND_DEBUGGING)))
    assert "(back-end)" not in text and "Back-end developer" in text
    assert "nan" not in re.sub(r"<[^>]+>", " ", text).lower().split()
    assert "(no exam code given)" in text or "MongoDB" not in text


def test_the_lessons_try_it_answer_still_holds():
    """Notebook 11's "Try it" answer: flipping q01 moves the example person's fit from 94 to 92 and swaps the
    top two careers; no single flipped answer moves it by more than about two points."""
    example = quiz.answers_for({"data": 1.0, "systems": 1.0, "I": 0.9, "C": 0.7, "quality": 0.6,
                                "security": 0.6, "infrastructure": 0.4, "visual": 0.0, "people": 0.1})
    result = quiz.score(example)
    flipped = quiz.score({**result.answers, "q01": 6 - result.answers["q01"]})
    assert (quiz.shown(result.backend_fit), quiz.shown(flipped.backend_fit)) == (94, 92)
    assert [c.career_id for c in result.top(2)] == [c.career_id for c in flipped.top(2)][::-1]
    moves = [abs(quiz.score({**result.answers, i: 6 - result.answers[i]}).backend_fit - result.backend_fit)
             for i in IDS]
    assert max(moves) <= 2.5
