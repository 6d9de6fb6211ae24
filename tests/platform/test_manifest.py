"""The manifest and the files match one to one; steps and deep dives resolve by number or stem."""

from __future__ import annotations

from pathlib import Path

import pytest

from course.platform import manifest

REPO = Path(__file__).resolve().parents[2]
EXPECTED_STEMS = [
    "00-welcome", "01-programming-basics", "02-web-concepts", "03-backend-frameworks", "04-databases",
    "05-build-projects", "06-open-source", "07-formal-education", "08-portfolio", "09-practical-experience",
    "10-networking-and-job-search", "11-fit-quiz-and-certifications",
]
DEEP_DIVES = {"01-programming-basics": ["01b-python-for-projects"], "03-backend-frameworks": ["03b-security"],
              "04-databases": ["04b-concurrency"], "05-build-projects": ["05b-ship", "05c-operate"],
              "06-open-source": ["06b-contribution-loop"], "07-formal-education": ["07b-systems-fundamentals"],
              "09-practical-experience": ["09b-on-the-job"]}


def test_the_twelve_steps_in_order_each_followed_by_its_deep_dives():
    steps = manifest.load_manifest()
    roadmap = [s for s in steps if not s.deep_dive]
    assert [s.stem for s in roadmap] == EXPECTED_STEMS
    expected_order = [d for stem in EXPECTED_STEMS for d in [stem, *DEEP_DIVES.get(stem, [])]]
    assert [s.stem for s in steps] == expected_order
    for step in steps:
        assert step.title and step.summary and step.objectives and step.minutes > 0
    assert [s.exercise for s in roadmap] == [False] + [True] * 10 + [False]
    assert {s.stem: [d.stem for d in manifest.deep_dives(s.stem)] for s in roadmap if manifest.deep_dives(s.stem)} \
        == DEEP_DIVES


def test_manifest_and_files_match_one_to_one():
    steps = {s.stem: s for s in manifest.load_manifest()}
    lessons = {p.stem for p in (REPO / "notebooks").glob("*.ipynb")}
    sources = {p.name for p in (REPO / "solutions").iterdir() if p.is_dir()}
    releases = {p.name for p in (REPO / "exercises").iterdir() if p.is_dir()}
    ready = {stem for stem, s in steps.items() if s.ready}
    graded = {stem for stem, s in steps.items() if s.ready and s.exercise}
    assert lessons == ready, "a lesson exists exactly for each ready step"
    assert sources == graded, "an exercise source exists exactly for each ready step with an exercise"
    assert releases == graded, "a release exists exactly for each ready step with an exercise"
    for stem in graded:
        assert (REPO / "solutions" / stem / f"{stem}.ipynb").is_file()
        assert (REPO / "exercises" / stem / f"{stem}.ipynb").is_file()


def test_each_lesson_opens_with_its_manifest_title():
    import nbformat

    for step in manifest.steps(ready_only=True):
        nb = nbformat.read(REPO / "notebooks" / f"{step.stem}.ipynb", as_version=4)
        first = nb.cells[0].source.splitlines()[0]
        assert first == f"# {step.number} · {step.title}", step.stem


@pytest.mark.parametrize("name", ["1", "01", "01-programming-basics", " 01 "])
def test_resolve_accepts_numbers_and_stems(name):
    assert manifest.resolve(name).stem == "01-programming-basics"


@pytest.mark.parametrize("name", ["99", "basics", "", "01-basics"])
def test_unknown_step_names_the_valid_ones(name):
    with pytest.raises(manifest.UnknownStep) as error:
        manifest.resolve(name)
    assert "valid steps: 00-welcome, 01-programming-basics" in str(error.value)
    assert "\n" not in str(error.value)


def test_a_step_without_exercise_cannot_be_graded():
    with pytest.raises(manifest.UnknownStep, match="has no exercise assignment"):
        manifest.resolve("00", need_exercise=True)


# Deep dives, on the fixture manifest (tests/files/manifests/with_deep_dive.yaml).

def test_a_deep_dive_follows_its_step_and_inherits_its_helpers(deep_dive_manifest):
    assert [s.stem for s in deep_dive_manifest] == ["00-welcome", "01-basics", "01b-deeper", "02-later"]
    dive = manifest.resolve("01b")
    assert dive.deep_dive and dive.parent == "01-basics" and not manifest.resolve("01").deep_dive
    assert dive.number == "01b" and dive.heading == "01b · Deeper basics"
    assert dive.helpers == manifest.resolve("01").helpers == "course.steps.step02_web_concepts"
    assert manifest.deep_dives("01-basics") == [dive] and manifest.deep_dives("00-welcome") == []


@pytest.mark.parametrize("name", ["01b", "1b", "01B", " 1b ", "01b-deeper"])
def test_a_deep_dive_resolves_by_its_number_and_its_stem(deep_dive_manifest, name):
    assert manifest.resolve(name, need_exercise=True).stem == "01b-deeper"


@pytest.mark.parametrize("name", ["1", "01", "01-basics"])
def test_the_steps_number_still_names_the_step_not_its_deep_dive(deep_dive_manifest, name):
    assert manifest.resolve(name).stem == "01-basics"


@pytest.mark.parametrize("name", ["01c", "1bb", "b", "01b-other", "0b"])
def test_an_unknown_deep_dive_gets_one_line_listing_the_valid_names(deep_dive_manifest, name):
    with pytest.raises(manifest.UnknownStep) as error:
        manifest.resolve(name, need_exercise=True)
    assert str(error.value) == f"unknown step {name.strip()!r}; graded steps: 01-basics, 01b-deeper, 02-later"


def test_neighbours_put_deep_dives_between_their_step_and_the_next(deep_dive_manifest):
    assert [s and s.stem for s in manifest.neighbours("01-basics")] == ["00-welcome", "01b-deeper"]
    assert [s and s.stem for s in manifest.neighbours("01b-deeper")] == ["01-basics", "02-later"]
    assert [s and s.stem for s in manifest.neighbours("01b-deeper", ready_only=True)] == ["01-basics", None]


def _raw(**dive):
    entry = {"stem": "01b-deeper", "title": "D", "summary": "S", "objectives": ["O"], "minutes": 1,
             "exercise": False, "status": "ready", **dive}
    step = {"stem": "01-basics", "title": "B", "summary": "S", "objectives": ["O"], "minutes": 1,
            "exercise": False, "status": "ready", "helpers": None, "deep_dives": [entry]}
    return {"steps": [step]}


@pytest.mark.parametrize(("change", "message"), [
    ({"stem": "02b-deeper"}, "deep dive '02b-deeper' of 01-basics must be named 01<letter>-kebab-title"),
    ({"stem": "01-deeper"}, "must be named 01<letter>"),
    ({"helpers": "course.steps.step01_x"}, "inherits the helpers of 01-basics"),
    ({"status": "soon"}, "unknown status 'soon'"),
    ({"stem": "01c-deeper"}, None),
])
def test_a_malformed_deep_dive_is_refused_with_its_name(change, message):
    raw = _raw(**change)
    if message is None:
        assert manifest.parse(raw)[1].stem == "01c-deeper"  # any letter after the step's number will do
        return
    with pytest.raises(ValueError, match=message):
        manifest.parse(raw)


def test_a_deep_dive_missing_a_field_or_reusing_a_number_is_refused():
    raw = _raw()
    del raw["steps"][0]["deep_dives"][0]["minutes"]
    with pytest.raises(ValueError, match="01b-deeper lacks minutes"):
        manifest.parse(raw)
    raw = _raw()
    raw["steps"][0]["deep_dives"].append(dict(raw["steps"][0]["deep_dives"][0], stem="01b-again"))
    with pytest.raises(ValueError, match="two notebooks are numbered 01b"):
        manifest.parse(raw)
