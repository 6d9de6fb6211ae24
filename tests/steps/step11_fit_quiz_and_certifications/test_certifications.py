"""The certification overview: every figure sourced and dated or left empty, the facts as the reference gives
them, statuses worked out from reported retirement dates, domain-to-step mapping and recommendations."""

from __future__ import annotations

import datetime as dt

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


def test_every_row_has_a_source_and_an_as_of_date(certs):
    for cert_id, row in certs.iterrows():
        assert isinstance(row["sources"], str) and len(row["sources"]) > 20, cert_id
        assert isinstance(row["as_of"], dt.date) and row["as_of"] <= TODAY, cert_id


def test_every_figure_column_is_sourced_or_empty(certs):
    for name in certifications.FIGURES:
        for cert_id, row in certs.iterrows():
            if pd.isna(row[name]):
                assert pd.isna(row[f"{name}_source"]) and pd.isna(row[f"{name}_as_of"]), (cert_id, name)
            else:
                assert row[f"{name}_source"], (cert_id, name)
                assert isinstance(row[f"{name}_as_of"], dt.date), (cert_id, name)


def test_the_data_file_never_gives_a_value_without_a_source_nor_a_source_without_a_value():
    raw = data.load("certifications.yaml")
    for key, source in raw["sources"].items():
        assert source["citation"] and source["as_of"] and source["as_of_basis"], key
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


def test_a_reported_retirement_is_flagged_with_its_successor_and_date():
    before = certifications.load(today=dt.date(2026, 1, 1)).set_index("id")
    after = certifications.load(today=TODAY).set_index("id")
    assert before.loc["azure-developer-associate", "status"].startswith("retiring on 2026-07-31")
    status = after.loc["azure-developer-associate", "status"]
    assert status.startswith("retired on 2026-07-31") and "AI-200" in status
    assert after.loc["aws-developer-associate", "status"] == "active"
    assert certifications.load(today=dt.date(2026, 7, 31)).set_index("id").loc[
        "azure-developer-associate", "status"].startswith("retired")


def test_domains_map_to_course_steps_and_aws_weights_add_up():
    domains = certifications.domains()
    aws = domains[domains["exam_code"] == "DVA-C02"]
    assert aws["weight_min"].sum() == 100 and len(aws) == 4
    assert all(set(steps) <= STEMS and steps for steps in domains["steps"])
    assert domains["source"].str.len().gt(0).all() and domains["as_of"].notna().all()
    for _, row in certifications.load().iterrows():
        assert set(row["related_steps"]) <= STEMS, row["id"]


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
    assert "devops-engineer" in picks.iloc[0]["why"]
