"""The certification overview: five certifications (six exams) with sourced facts, for notebook 11.

Data: ``course/data/certifications.yaml``. Every figure carries a source, and each source two dates: its own
(``dated``, often none) and the day the course read it (``retrieved``); a figure no source gives stays empty.
:func:`load` returns one row per exam as a pandas DataFrame with, for every figure ``F``, the columns ``F``,
``F_source``, ``F_dated`` and ``F_retrieved``. An exam's status is worked out on the day you ask: no source
says an exam is "active", so that status is labelled as inferred from the absence of a reported retirement;
a reported retirement is shown as reported, with every date the sources give.

:func:`overview`, :func:`details` and :func:`recommendation_table` give the notebook's tables as text (no
``<NA>``), and :func:`html_table` renders them with every cell in full, wrapped.
"""

from __future__ import annotations

import datetime as dt
import html
from functools import lru_cache

from course import data

__all__ = ["FIGURES", "STACKS", "load", "sources", "domains", "status", "recommend", "price_text",
           "CAREER_WEIGHTS", "ACTIVE", "exam_label", "dates_text", "overview", "details", "recommendation_table",
           "html_table", "MISSING", "domain_table"]

FIGURES = (
    "exam_code", "price_usd_min", "price_usd_max", "duration_minutes", "questions_min", "questions_max",
    "question_kind", "passing_score", "validity_years", "renewal", "prerequisites", "retires_on",
    "retires_on_other_report", "successor",
)
STACKS = ("cloud", "language", "database", "linux")
CAREER_WEIGHTS = (3, 2, 1)  # how much the 1st, 2nd and 3rd best-fitting careers count in a recommendation
ACTIVE = "active (inferred: no source reports a retirement date)"
MISSING = "not given by a source"
_DATES = ("retires_on", "retires_on_other_report")


@lru_cache(maxsize=1)
def _raw() -> dict:
    return data.load("certifications.yaml")


def sources() -> dict[str, dict]:
    """Source id -> {citation, kind, dated (the source's own date as text, or None), retrieved (a date)}."""
    out = {}
    for key, entry in _raw()["sources"].items():
        dated = entry.get("dated")
        out[key] = {**entry, "citation": " ".join(str(entry["citation"]).split()),
                    "dated": None if dated is None else str(dated), "retrieved": _as_date(entry["retrieved"])}
    return out


def _as_date(value) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _missing(value) -> bool:
    try:
        import pandas as pd

        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # a tuple or list is not missing
        return False


def status(row, today: dt.date | None = None) -> str:
    """What the sources say about an exam's status on ``today``.

    No reported retirement: :data:`ACTIVE` (an inference, and labelled as one). Otherwise the reported
    date(s), as reported: "reported to retire on ...", "reported retired on ..." or, between two reports
    that differ, both; with the successor the sources name.
    """
    today = today or dt.date.today()
    reported = sorted({row[name] for name in _DATES if not _missing(row.get(name))})
    if not reported:
        return ACTIVE
    successor = "" if _missing(row.get("successor")) else f"; successor reported: {row['successor']}"
    first, last = reported[0].isoformat(), reported[-1].isoformat()
    other = f" (another report: {last})" if len(reported) > 1 else ""
    if today < reported[0]:
        return f"reported to retire on {first}{other}{successor}"
    if today < reported[-1]:
        return f"reported retired on {first}; another report has it retire on {last}{successor}"
    return f"reported retired on {first}{other}{successor}"


def _retired(row, today: dt.date) -> bool:
    """True once the earliest reported retirement date has come."""
    reported = [row[name] for name in _DATES if not _missing(row.get(name))]
    return bool(reported) and min(reported) <= today


def load(today: dt.date | None = None):
    """One row per exam: id, name, vendor, stack, suits, the figures with their sources and dates, status."""
    import pandas as pd

    today = today or dt.date.today()
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
            if name in _DATES:
                value = _as_date(value)
            if value is not None and source not in known:
                raise ValueError(f"certifications.yaml: {cert['id']}.{name} cites unknown source {source!r}")
            row[name] = value
            for part in ("citation", "dated", "retrieved"):
                column = f"{name}_source" if part == "citation" else f"{name}_{part}"
                row[column] = known[source][part] if value is not None else None
        used = list(dict.fromkeys(cert["figures"][n]["source"] for n in FIGURES
                                  if cert["figures"][n]["value"] is not None))
        row["sources"] = "; ".join(dict.fromkeys(known[s]["citation"] for s in used))
        own = sorted({known[s]["dated"] for s in used if known[s]["dated"]})
        row["dated"] = ", ".join(own) or None
        row["retrieved"] = max((known[s]["retrieved"] for s in used), default=None)
        row["dates"] = dates_text(row["dated"], row["retrieved"],
                                  some_undated=bool(own) and any(not known[s]["dated"] for s in used))
        row["status"] = status(row, today)
        row["retired"] = _retired(row, today)
        rows.append(row)
    frame = pd.DataFrame(rows)
    for name in ("price_usd_min", "price_usd_max", "duration_minutes", "questions_min", "questions_max",
                 "validity_years"):
        frame[name] = frame[name].astype("Int64")
    return frame


def price_text(row) -> str:
    """'$150', '$450–500' or '' when unknown."""
    low, high = row["price_usd_min"], row["price_usd_max"]
    if _missing(low):
        return ""
    return f"${low}" if high == low else f"${low}–{high}"


def exam_label(row) -> str:
    """The exam code, or 'no exam code given' (never 'nan')."""
    return "no exam code given" if _missing(row["exam_code"]) else str(row["exam_code"])


def dates_text(dated, retrieved, some_undated: bool = False) -> str:
    """'source dated 2026-04; retrieved 2026-11-23', 'source undated; retrieved ...', or with
    ``some_undated`` 'sources dated 2023-08-08, others undated; retrieved ...'. A retrieval date is never
    passed off as the source's own."""
    if _missing(dated) or not dated:
        own = "source undated"
    elif some_undated:
        own = f"sources dated {dated}, others undated"
    else:
        own = f"source dated {dated}"
    return own if _missing(retrieved) else f"{own}; retrieved {retrieved.isoformat()}"


def _text(value, empty: str = MISSING) -> str:
    return empty if _missing(value) or value == "" else str(value)


def overview(today: dt.date | None = None):
    """The overview table as text, one row per exam; an empty cell reads :data:`MISSING`."""
    import pandas as pd

    certs = load(today)
    rows = []
    for _, row in certs.iterrows():
        low, high = row["questions_min"], row["questions_max"]
        rows.append({
            "certification": row["name"],
            "exam": exam_label(row),
            "stack": row["stack"],
            "price": price_text(row) or MISSING,
            "minutes": _text(row["duration_minutes"]),
            "questions": MISSING if _missing(low) else f"{low}" if low == high else f"{low}–{high}",
            "pass mark": _text(row["passing_score"]),
            "valid (years)": _text(row["validity_years"]),
            "status": row["status"],
            "dates": row["dates"],
        })
    return pd.DataFrame(rows)


def details(stack: str | None = None, today: dt.date | None = None):
    """Question kind, prerequisites, renewal, who it suits, the course's note and the sources, as text."""
    import pandas as pd

    if stack is not None and stack not in STACKS:
        raise ValueError(f"unknown stack {stack!r}; choose one of {', '.join(STACKS)}")
    certs = load(today)
    if stack is not None:
        certs = certs[certs["stack"] == stack]
    return pd.DataFrame([{
        "certification": row["name"], "exam": exam_label(row), "question kind": _text(row["question_kind"]),
        "prerequisites": _text(row["prerequisites"]), "renewal": _text(row["renewal"]),
        "suits": row["suits_text"], "course note": row["course_note"], "sources": row["sources"],
    } for _, row in certs.iterrows()], columns=["certification", "exam", "question kind", "prerequisites",
                                               "renewal", "suits", "course note", "sources"])


def html_table(frame, caption: str | None = None) -> str:
    """A DataFrame as an HTML table whose cells wrap and are never cut; a missing cell reads :data:`MISSING`."""
    cell = "padding:4px 8px;text-align:left;vertical-align:top;white-space:normal;border-bottom:1px solid #ccc"
    head = "".join(f'<th style="{cell}">{html.escape(str(c))}</th>' for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f'<td style="{cell}">{html.escape(_text(v))}</td>' for v in values) + "</tr>"
        for values in frame.itertuples(index=False))
    title = f"<caption style=\"text-align:left\">{html.escape(caption)}</caption>" if caption else ""
    return (f'<table style="border-collapse:collapse;table-layout:auto;max-width:100%">{title}'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def domains():
    """One row per published exam domain: exam, domain, weight range (%), source and its dates, course steps."""
    import pandas as pd

    known = sources()
    rows = []
    for cert in _raw()["certifications"]:
        code = cert["figures"]["exam_code"]["value"] or cert["name"]
        for domain in cert["domains"]:
            source = known[domain["source"]]
            rows.append({
                "certification": cert["name"], "exam_code": code, "domain": domain["name"],
                "weight_min": domain["weight_min"], "weight_max": domain["weight_max"],
                "source": source["citation"], "dated": source["dated"], "retrieved": source["retrieved"],
                "steps": tuple(domain["steps"]),
            })
    frame = pd.DataFrame(rows)
    for name in ("weight_min", "weight_max"):
        frame[name] = frame[name].astype("Int64")
    return frame


def domain_table():
    """:func:`domains` as text for :func:`html_table`: weights as '32', '25–30' or :data:`MISSING`, the course
    steps, and the source's dates."""
    import pandas as pd

    rows = []
    for _, row in domains().iterrows():
        low, high = row["weight_min"], row["weight_max"]
        weight = MISSING if _missing(low) else f"{low}" if low == high else f"{low}–{high}"
        rows.append({"exam": row["exam_code"], "domain": row["domain"], "weight (%)": weight,
                     "course steps": ", ".join(row["steps"]), "dates": dates_text(row["dated"], row["retrieved"])})
    return pd.DataFrame(rows)


def recommend(careers, stack: str | None = None, today: dt.date | None = None):
    """Certifications for a ranked list of career ids (best first), optionally within one stack.

    ``careers`` may also be a :class:`course.steps.step11_fit_quiz_and_certifications.quiz.QuizResult`,
    whose three best-fitting careers are used (none when its answers do not discriminate).
    The 1st career counts 3, the 2nd 2 and the 3rd 1; exams that suit none of them are left out, an exam
    with a newer version goes after it, and an exam reported retired goes last with its successor named.
    ``why`` names the careers by title. Raises ``ValueError`` for an unknown stack.
    """
    from course.steps.step11_fit_quiz_and_certifications import quiz

    if hasattr(careers, "ranking"):
        careers = [c.career_id for c in careers.ranking] if careers.discriminating else []
    careers = list(careers)[: len(CAREER_WEIGHTS)]
    if stack is not None and stack not in STACKS:
        raise ValueError(f"unknown stack {stack!r}; choose one of {', '.join(STACKS)}")
    titles = {c.id: c.title for c in quiz.load_careers()}
    frame = load(today)
    if stack is not None:
        frame = frame[frame["stack"] == stack]
    scores, whys = [], []
    for _, row in frame.iterrows():
        matched = [(w, c) for w, c in zip(CAREER_WEIGHTS, careers, strict=False) if c in row["suits"]]
        scores.append(sum(w for w, _ in matched))
        whys.append("suits " + ", ".join(titles.get(c, c) for _, c in matched) if matched else "")
    # An exam with a newer version (a successor but not retired) goes after the newer one.
    superseded = frame["successor"].notna() & ~frame["retired"]
    frame = frame.assign(match=scores, why=whys, superseded=superseded)
    frame = frame[frame["match"] > 0]
    frame = frame.sort_values(["retired", "superseded", "match", "id"], ascending=[True, True, False, True],
                              kind="stable")
    frame = frame.assign(exam_code=[exam_label(row) for _, row in frame.iterrows()])
    return frame[["id", "name", "exam_code", "stack", "match", "why", "status"]].reset_index(drop=True)


def recommendation_table(picks):
    """:func:`recommend`'s rows with readable column names, for :func:`html_table`."""
    return picks[["name", "exam_code", "why", "status"]].rename(
        columns={"name": "certification", "exam_code": "exam", "why": "why it is listed"})
