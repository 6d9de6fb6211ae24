"""course.data: the loader, and the rule every figure in a data file keeps (issue 19, "Sources and dates").

Every figure names its source, the source's own date (or, for an undated page, "retrieved <day>", so the
day the course read it is never passed off as the source's date) and the day the course read it. Each data
file keeps that information in its own shape; ``figure_records`` reads each shape into one list, and a new
data file must be listed there (or in ``NO_FIGURES``) before the last test passes.
"""

from __future__ import annotations

import re

import pytest

from course import data

DAY = r"\d{4}-\d{2}-\d{2}"
RETRIEVAL = re.compile(rf"^{DAY}$")
SOURCE_DATE = re.compile(rf"^(\d{{4}}(-\d{{2}}(-\d{{2}})?)?|retrieved {DAY})$")   # a date, or a labelled retrieval
NO_FIGURES = {"manifest.yaml": "steps, titles and time estimates", "quiz_items.yaml": "questions, no figures",
              "frameworks.yaml": "facts from each project's documentation; its shares are in survey_figures.csv"}


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def figure_records() -> list[dict]:
    """One dict per figure (or per source that figures point at): where, source, source_date, retrieved."""
    records = []

    def add(where, source, source_date, retrieved, **extra):
        records.append({"where": where, "source": _text(source), "source_date": _text(source_date),
                        "retrieved": _text(retrieved), **extra})

    for row in data.load("survey_figures.csv"):
        add(f"survey_figures.csv {row['year']} {row['item']}", row["source"], row["source_date"], row["retrieved"],
            source_url=row["source_url"], second_hand=row["second_hand"] == "true", via=row["via"],
            **({"via_url": row["via_url"]} if row["via_url"] else {}))
    facts = data.load("careers_facts.yaml")
    for fact in facts["facts"]:
        add(f"careers_facts.yaml {fact['key']}", fact["source"], fact.get("source_date"),
            fact.get("retrieved", facts["retrieved"]), second_hand=bool(fact.get("second_hand")),
            via=fact.get("via", ""), **{key: fact[key] for key in ("source_url", "via_url") if key in fact})
    welcome = data.load("welcome_facts.yaml")
    for key, source in welcome["sources"].items():
        add(f"welcome_facts.yaml {key}", source["citation"], source["as_of"], source.get("retrieved"),
            source_url=source.get("source_url", ""))
    for figure in welcome["figures"]:
        assert figure["source"] in welcome["sources"], f"welcome_facts.yaml {figure['id']} names no source"
    onet = data.load("careers.yaml")["onet"]
    add("careers.yaml onet", onet["source"], onet["data_date"], onet["retrieved"])
    for key, source in data.load("certifications.yaml")["sources"].items():
        dated = source["dated"] if source["dated"] is not None else f"retrieved {source['retrieved']}"
        add(f"certifications.yaml {key}", source["citation"], dated, source["retrieved"])
    for entry in data.load("databases.yaml")["usage"]:
        add(f"databases.yaml usage {entry['survey']}", entry["source"], entry["source_date"], entry["retrieved"],
            source_url=entry["source_url"])
    licences = data.load("licences.yaml")
    for licence in licences["licences"]:
        dated = licence["as_of"] if licence["as_of"] != "undated" else f"retrieved {licences['retrieved']}"
        add(f"licences.yaml {licence['spdx']}", licence["source"], dated, licences["retrieved"])
    storage = data.load("password_storage.yaml")
    dated = storage["source_date"] if storage["source_date"] is not None else f"retrieved {storage['retrieved']}"
    add("password_storage.yaml", storage["source"], dated, storage["retrieved"], source_url=storage["url"])
    top10 = data.load("owasp_top10.yaml")
    add("owasp_top10.yaml", top10["source"], top10["source_date"], top10["retrieved"], source_url=top10["url"])
    newer = top10["newer_edition"]
    add("owasp_top10.yaml newer_edition", newer["name"], f"retrieved {newer['retrieved']}", newer["retrieved"],
        second_hand=newer["second_hand"], via=newer["via"], via_url=newer["via_url"])
    return records


RECORDS = figure_records()


def test_load_reads_yaml_and_csv_and_names_a_missing_file():
    assert isinstance(data.load("manifest.yaml"), dict | list)
    rows = data.load("survey_figures.csv")
    assert rows and all(isinstance(row, dict) for row in rows)
    with pytest.raises(FileNotFoundError, match="no-such.yaml"):
        data.load("no-such.yaml")


@pytest.mark.parametrize("record", RECORDS, ids=[r["where"] for r in RECORDS])
def test_every_figure_has_a_source_a_source_date_and_a_retrieval_date(record):
    assert record["source"], "no source"
    assert SOURCE_DATE.match(record["source_date"]), (
        f"source date {record['source_date']!r}: the source's own date, or 'retrieved YYYY-MM-DD' when undated")
    assert RETRIEVAL.match(record["retrieved"]), f"retrieval date {record['retrieved']!r}"
    own_date = record["source_date"].removeprefix("retrieved ")
    assert own_date[:len(record["retrieved"])] <= record["retrieved"], "a source dated after the day it was read"
    if record.get("second_hand"):
        assert _text(record.get("via")), "a second-hand figure names the page it was read from"
    for key in ("source_url", "via_url"):
        if key in record:
            assert record[key].startswith("https://"), f"{key} {record[key]!r}"


def test_survey_and_bls_handbook_figures_give_the_publications_address():
    # The addresses the search tool holds: survey.stackoverflow.co and bls.gov/ooh. (BLS Employment
    # Projections, read second-hand, has no page the course could read, so no address is given for it.)
    for record in RECORDS:
        if any(name in record["source"] for name in ("Stack Overflow", "Occupational Outlook Handbook")):
            assert record.get("source_url", "").startswith("https://"), record["where"]


def test_the_compile_day_is_never_given_as_a_source_date():
    # Issue 19: "as of 2026-11-23" on undated sources was the day the facts were compiled.
    compiled = {"2026-11-23"}
    for record in RECORDS:
        assert record["source_date"] not in compiled, f"{record['where']}: label it 'retrieved {record['source_date']}'"


def test_every_data_file_is_checked_or_holds_no_figures():
    checked = {record["where"].split()[0] for record in RECORDS}
    files = {path.name for path in data.DATA_DIR.iterdir() if path.suffix in {".yaml", ".yml", ".csv", ".json"}}
    assert files - checked == set(NO_FIGURES), "a new data file: add it to figure_records or to NO_FIGURES"
