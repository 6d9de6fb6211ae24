"""The certification overview: every figure sourced and dated or left empty, the facts as the reference gives
them, a source's own date kept apart from the day it was retrieved, statuses worked out from reported
retirement dates (and "active" labelled as inferred), readable tables, domain-to-step mapping and
recommendations."""

from __future__ import annotations

import datetime as dt
import html

import pandas as pd
import pytest

from course import data
from course.platform import manifest
from course.steps.step11_fit_quiz_and_certifications import certifications, quiz

TODAY = dt.date(2026, 11, 23)
STEMS = {s.stem for s in manifest.load_manifest()}


@pytest.fixture(scope="module")
def certs():
    return certifications.load(today=TODAY).set_index("id")


def test_the_five_certifications_and_six_exams(certs):
    assert len(certs) == 6
    assert certs["vendor"].nunique() == 5
    assert set(certs["exam_code"].dropna()) == {"DVA-C02", "AZ-204", "1Z0-830", "1Z0-829", "EX294"}
    assert set(certs["stack"]) == set(certifications.STACKS)


def test_every_row_has_a_source_and_a_retrieval_date(certs):
    for cert_id, row in certs.iterrows():
        assert isinstance(row["sources"], str) and len(row["sources"]) > 20, cert_id
        assert isinstance(row["retrieved"], dt.date) and row["retrieved"] <= TODAY, cert_id
        assert "retrieved " + row["retrieved"].isoformat() in row["dates"], cert_id


def test_every_figure_column_is_sourced_or_empty(certs):
    for name in certifications.FIGURES:
        for cert_id, row in certs.iterrows():
            if pd.isna(row[name]):
                assert pd.isna(row[f"{name}_source"]) and pd.isna(row[f"{name}_retrieved"]), (cert_id, name)
            else:
                assert row[f"{name}_source"], (cert_id, name)
                assert isinstance(row[f"{name}_retrieved"], dt.date), (cert_id, name)


def test_a_sources_own_date_is_kept_apart_from_the_day_it_was_retrieved(certs):
    known = certifications.sources()
    assert known["aws-dva-guides"]["dated"] is None  # undated: the compile day is no date of the source
    assert known["oracle-829"]["dated"] == "2026-04" and known["mongodb-certsqill"]["dated"] == "2026-05"
    assert all(isinstance(s["retrieved"], dt.date) for s in known.values())
    assert certs.loc["aws-developer-associate", "dates"] == "source undated; retrieved 2026-11-23"
    assert certs.loc["mongodb-associate-developer", "dates"] == "source dated 2026-05; retrieved 2026-11-23"
    # the credential page is dated, the AZ-204 summaries are not: the row says both
    assert certs.loc["azure-developer-associate", "dates"].startswith("sources dated 2023-08-08, others undated")
    for frame in (certs.reset_index(), certifications.overview(TODAY)):
        assert not frame.astype(str).apply(lambda col: col.str.contains("as of")).any().any()


def test_the_data_file_never_gives_a_value_without_a_source_nor_a_source_without_a_value():
    raw = data.load("certifications.yaml")
    for key, source in raw["sources"].items():
        assert source["citation"] and source["retrieved"] and "dated" in source, key
        assert "as_of" not in source, key
    for cert in raw["certifications"]:
        assert set(cert["figures"]) == set(certifications.FIGURES), cert["id"]
        for name, figure in cert["figures"].items():
            if figure["value"] is None:
                assert figure["source"] is None, (cert["id"], name)
            else:
                assert figure["source"] in raw["sources"], (cert["id"], name)
        for domain in cert["domains"]:
            assert domain["source"] in raw["sources"], (cert["id"], domain["name"])


def test_figures_match_the_reference_facts(certs):
    aws = certs.loc["aws-developer-associate"]
    assert (aws["price_usd_min"], aws["duration_minutes"], aws["questions_min"], aws["validity_years"]) == (
        150, 130, 65, 3)
    assert aws["passing_score"].startswith("720")
    azure = certs.loc["azure-developer-associate"]
    assert (azure["price_usd_min"], azure["duration_minutes"], azure["questions_min"], azure["questions_max"]) == (
        165, 100, 40, 60)
    assert azure["validity_years"] == 1 and "renewal" in azure["renewal"]
    assert certs.loc["oracle-java-se-21", "duration_minutes"] == 120
    assert certs.loc["oracle-java-se-17", "duration_minutes"] == 90
    assert certs.loc["oracle-java-se-21", "passing_score"] == "68%"
    rhce = certs.loc["red-hat-rhce"]
    assert (rhce["price_usd_min"], rhce["price_usd_max"], rhce["duration_minutes"]) == (450, 500, 240)
    assert "RHCSA" in rhce["prerequisites"] and "performance-based" in rhce["question_kind"]
    mongo = certs.loc["mongodb-associate-developer"]
    assert (mongo["price_usd_min"], mongo["questions_min"], mongo["duration_minutes"], mongo["validity_years"]) == (
        150, 53, 75, 3)


def test_unknown_figures_stay_empty(certs):
    assert pd.isna(certs.loc["oracle-java-se-21", "validity_years"])
    assert pd.isna(certs.loc["red-hat-rhce", "questions_min"])
    assert pd.isna(certs.loc["mongodb-associate-developer", "passing_score"])
    assert pd.isna(certs.loc["mongodb-associate-developer", "exam_code"])
    assert certifications.price_text(certs.loc["red-hat-rhce"]) == "$450–500"
    assert certifications.price_text(certs.loc["aws-developer-associate"]) == "$150"
    assert certifications.exam_label(certs.loc["mongodb-associate-developer"]) == "no exam code given"


def test_a_reported_retirement_is_shown_as_reported_with_both_dates_and_its_successor():
    def azure(day):
        return certifications.load(today=day).set_index("id").loc["azure-developer-associate"]

    before, between, after = azure(dt.date(2026, 1, 1)), azure(dt.date(2026, 8, 10)), azure(TODAY)
    assert before["status"] == ("reported to retire on 2026-07-31 (another report: 2026-08-31); "
                                "successor reported: AI-200 (Azure AI Cloud Developer Associate)")
    assert between["status"].startswith("reported retired on 2026-07-31; another report has it retire on 2026-08-31")
    assert after["status"].startswith("reported retired on 2026-07-31 (another report: 2026-08-31)")
    assert [before["retired"], between["retired"], after["retired"]] == [False, True, True]
    assert azure(dt.date(2026, 7, 31))["retired"]
    assert "31 August 2026" in after["retires_on_other_report_source"]


def test_active_is_labelled_as_an_inference(certs):
    assert certs.loc["aws-developer-associate", "status"] == certifications.ACTIVE
    assert "inferred" in certifications.ACTIVE and "no source reports a retirement" in certifications.ACTIVE
    assert not (certs["status"] == "active").any()


def test_the_tables_are_text_without_na_and_render_every_cell_in_full(certs):
    overview = certifications.overview(TODAY)
    details = certifications.details(today=TODAY)
    for frame in (overview, details):
        cells = frame.astype(str).to_numpy().ravel()
        assert not [c for c in cells if c in {"nan", "<NA>", "None", "NaN", ""} or "nan" in c.split()]
    mongo = overview.set_index("exam").loc["no exam code given"]
    assert mongo["pass mark"] == certifications.MISSING and mongo["certification"] == "MongoDB Associate Developer"
    assert overview.set_index("exam").loc["EX294", "questions"] == certifications.MISSING
    rendered = certifications.html_table(details)
    longest = max(details["sources"], key=len)
    assert html.escape(longest) in rendered and "white-space:normal" in rendered and "…" not in rendered
    assert list(certifications.details("linux", TODAY)["exam"]) == ["EX294"]
    with pytest.raises(ValueError, match="unknown stack"):
        certifications.details("mainframe")


def test_domains_map_to_course_steps_and_aws_weights_add_up():
    domains = certifications.domains()
    aws = domains[domains["exam_code"] == "DVA-C02"]
    assert aws["weight_min"].sum() == 100 and len(aws) == 4
    assert all(set(steps) <= STEMS and steps for steps in domains["steps"])
    assert domains["source"].str.len().gt(0).all() and domains["retrieved"].notna().all()
    for _, row in certifications.load().iterrows():
        assert set(row["related_steps"]) <= STEMS, row["id"]


def test_the_domain_table_reads_as_text():
    table = certifications.domain_table().set_index(["exam", "domain"])
    assert table.loc[("AZ-204", "Develop compute solutions"), "weight (%)"] == "25–30"
    assert table.loc[("AZ-204", "Develop for storage"), "weight (%)"] == certifications.MISSING
    assert table.loc[("DVA-C02", "Security"), "weight (%)"] == "26"
    assert table["dates"].str.contains("retrieved 2026-11-23").all()
    assert not table.astype(str).apply(lambda col: col.isin(["<NA>", "nan", "None"])).any().any()


def test_recommendations_follow_the_best_fitting_careers_and_the_stack():
    picks = certifications.recommend(["devops-engineer", "security-engineer", "backend-developer"], today=TODAY)
    assert picks.iloc[0]["id"] == "red-hat-rhce"  # suits the 1st and the 2nd career
    assert picks.iloc[-1]["id"] == "azure-developer-associate"  # retired: last, whatever its match
    assert list(picks["match"][:-1]) == sorted(picks["match"][:-1], reverse=True)
    cloud = certifications.recommend(["backend-developer"], stack="cloud", today=TODAY)
    assert set(cloud["stack"]) == {"cloud"} and cloud.iloc[0]["id"] == "aws-developer-associate"
    java = certifications.recommend(["backend-developer"], stack="language", today=TODAY)
    assert list(java["id"]) == ["oracle-java-se-21", "oracle-java-se-17"]  # the newer exam first
    assert certifications.recommend(["ux-designer", "product-manager"], today=TODAY).empty
    with pytest.raises(ValueError, match="unknown stack 'mainframe'"):
        certifications.recommend(["backend-developer"], stack="mainframe")


def test_recommendations_accept_a_quiz_result():
    result = quiz.score(quiz.answers_for({"infrastructure": 1.0, "R": 0.5, "systems": 0.8, "security": 0.5,
                                          "C": 0.6, "visual": 0.0, "people": 0.2}))
    picks = certifications.recommend(result, today=TODAY)
    assert result.ranking[0].career_id == "devops-engineer"
    assert "DevOps / platform engineer" in picks.iloc[0]["why"]  # careers named by title, not id


def test_answers_that_do_not_discriminate_get_no_recommendation():
    flat = quiz.score(dict.fromkeys([i.id for i in quiz.load_items()], 5))
    assert not flat.discriminating and certifications.recommend(flat, today=TODAY).empty


def test_recommendations_never_show_nan_for_a_missing_exam_code():
    picks = certifications.recommend(["backend-developer", "data-engineer"], stack="database", today=TODAY)
    assert list(picks["exam_code"]) == ["no exam code given"]
    table = certifications.recommendation_table(picks)
    assert list(table.columns) == ["certification", "exam", "why it is listed", "status"]
    assert "nan" not in certifications.html_table(table).lower().split()
