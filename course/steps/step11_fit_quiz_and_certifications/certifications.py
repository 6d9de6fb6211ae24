"""The certification overview: five certifications (six exams) with sourced facts, for notebook 11.

Data: ``course/data/certifications.yaml``. Every figure carries a source, and each source its as-of date;
a figure no source gives stays empty. :func:`load` returns one row per exam as a pandas DataFrame with,
for every figure ``F``, the columns ``F``, ``F_source`` and ``F_as_of``. An exam's status is worked out on
the day you ask: an exam whose reported retirement date has passed is "retired", with its successor.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from course import data

__all__ = ["FIGURES", "STACKS", "load", "sources", "domains", "status", "recommend", "price_text",
           "CAREER_WEIGHTS"]

FIGURES = (
    "exam_code", "price_usd_min", "price_usd_max", "duration_minutes", "questions_min", "questions_max",
    "question_kind", "passing_score", "validity_years", "renewal", "prerequisites", "retires_on", "successor",
)
STACKS = ("cloud", "language", "database", "linux")
CAREER_WEIGHTS = (3, 2, 1)  # how much the 1st, 2nd and 3rd best-fitting careers count in a recommendation


@lru_cache(maxsize=1)
def _raw() -> dict:
    return data.load("certifications.yaml")


def sources() -> dict[str, dict]:
    """Source id -> {citation, kind, as_of (a date), as_of_basis}."""
    out = {}
    for key, entry in _raw()["sources"].items():
        out[key] = {**entry, "citation": " ".join(str(entry["citation"]).split()),
                    "as_of": _as_date(entry["as_of"])}
    return out


def _as_date(value) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def status(row, today: dt.date | None = None) -> str:
    """'active', 'retiring on DATE (successor: ...)' or 'retired on DATE (successor: ...)'."""
    today = today or dt.date.today()
    retires = row["retires_on"]
    if retires is None or (isinstance(retires, float) and retires != retires):
        return "active"
    successor = f" (successor: {row['successor']})" if row.get("successor") else ""
    verb = "retired on" if retires <= today else "retiring on"
    return f"{verb} {retires.isoformat()}{successor}"


def load(today: dt.date | None = None):
    """One row per exam: id, name, vendor, stack, suits, the figures with their sources, and status."""
    import pandas as pd

    known = sources()
    rows = []
    for cert in _raw()["certifications"]:
        row = {key: cert[key] for key in ("id", "name", "vendor", "stack", "suits_text", "course_note")}
        row["suits"] = tuple(cert["suits"])
        row["related_steps"] = tuple(cert["related_steps"])
        for name in FIGURES:
            figure = cert["figures"].get(name)
            if figure is None:
                raise ValueError(f"certifications.yaml: {cert['id']} lacks the figure {name!r} (use null)")
            value, source = figure["value"], figure["source"]
            if name == "retires_on":
                value = _as_date(value)
            if value is not None and source not in known:
                raise ValueError(f"certifications.yaml: {cert['id']}.{name} cites unknown source {source!r}")
            row[name] = value
            row[f"{name}_source"] = known[source]["citation"] if value is not None else None
            row[f"{name}_as_of"] = known[source]["as_of"] if value is not None else None
        used = [cert["figures"][n]["source"] for n in FIGURES if cert["figures"][n]["value"] is not None]
        row["sources"] = "; ".join(dict.fromkeys(known[s]["citation"] for s in used))
        row["as_of"] = max((known[s]["as_of"] for s in used), default=None)
        row["status"] = status(row, today)
        rows.append(row)
    frame = pd.DataFrame(rows)
    for name in ("price_usd_min", "price_usd_max", "duration_minutes", "questions_min", "questions_max",
                 "validity_years"):
        frame[name] = frame[name].astype("Int64")
    return frame


def price_text(row) -> str:
    """'$150', '$450–500' or '' when unknown."""
    import pandas as pd

    low, high = row["price_usd_min"], row["price_usd_max"]
    if pd.isna(low):
        return ""
    return f"${low}" if high == low else f"${low}–{high}"


def domains():
    """One row per published exam domain: exam, domain, weight range (%), source, as-of, course steps."""
    import pandas as pd

    known = sources()
    rows = []
    for cert in _raw()["certifications"]:
        code = cert["figures"]["exam_code"]["value"] or cert["name"]
        for domain in cert["domains"]:
            rows.append({
                "certification": cert["name"], "exam_code": code, "domain": domain["name"],
                "weight_min": domain["weight_min"], "weight_max": domain["weight_max"],
                "source": known[domain["source"]]["citation"], "as_of": known[domain["source"]]["as_of"],
                "steps": tuple(domain["steps"]),
            })
    frame = pd.DataFrame(rows)
    for name in ("weight_min", "weight_max"):
        frame[name] = frame[name].astype("Int64")
    return frame


def recommend(careers, stack: str | None = None, today: dt.date | None = None):
    """Certifications for a ranked list of career ids (best first), optionally within one stack.

    ``careers`` may also be a :class:`course.steps.step11_fit_quiz_and_certifications.quiz.QuizResult`, whose three best-fitting careers are used.
    The 1st career counts 3, the 2nd 2 and the 3rd 1; exams that suit none of them are left out, an exam
    with a newer version goes after it, and a retired exam goes last with its successor named. Raises ``ValueError`` for an unknown stack.
    """
    if hasattr(careers, "ranking"):
        careers = [c.career_id for c in careers.ranking]
    careers = list(careers)[: len(CAREER_WEIGHTS)]
    if stack is not None and stack not in STACKS:
        raise ValueError(f"unknown stack {stack!r}; choose one of {', '.join(STACKS)}")
    frame = load(today)
    if stack is not None:
        frame = frame[frame["stack"] == stack]
    scores, whys = [], []
    for _, row in frame.iterrows():
        matched = [(w, c) for w, c in zip(CAREER_WEIGHTS, careers, strict=False) if c in row["suits"]]
        scores.append(sum(w for w, _ in matched))
        whys.append("suits " + ", ".join(c for _, c in matched) if matched else "")
    retired = frame["status"].str.startswith("retired")
    # An exam with a newer version (a successor but not retired) goes after the newer one.
    superseded = frame["successor"].notna() & ~retired
    frame = frame.assign(match=scores, why=whys, retired=retired, superseded=superseded)
    frame = frame[frame["match"] > 0]
    frame = frame.sort_values(["retired", "superseded", "match", "id"], ascending=[True, True, False, True],
                              kind="stable")
    return frame[["id", "name", "exam_code", "stack", "match", "why", "status"]].reset_index(drop=True)
