"""The career-fit quiz: how well back-end development fits the learner, and which similar careers fit better.

A self-reflection tool, not a validated psychometric test. The method, in order:

1. Each answer (1 = strongly dislike ... 5 = strongly like) becomes a number from 0 to 1.
2. The learner's profile on each dimension is the weighted mean of the answers to the items tagged with it
   (a reverse-keyed item, with a negative weight, counts as 1 minus the answer).
3. Each career has a profile on the same dimensions (``course/data/careers.yaml``): RIASEC interests from
   O*NET where the career maps to an O*NET occupation, the tech-work dimensions from documented judgements.
4. The fit of a career (0-100) blends two things, half each: *shape* — whether the learner rates the same
   dimensions high and low as the career does (a Pearson correlation, computed within the RIASEC group and
   the tech-work group and averaged, 40 % and 60 %) — and *closeness* — one minus the mean absolute
   difference between the two profiles.
5. The reasons of a match are the dimensions where both profiles are high (shared), where the career needs
   much more than the learner likes (gap), or the learner likes much more than the career offers (unused).

The notebook (11), the terminal quiz (``course quiz``) and the tests all go through :func:`score`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from course import data

__all__ = [
    "Item", "Career", "Reason", "CareerFit", "QuizResult", "DIMENSIONS", "BACKEND",
    "load_items", "load_careers", "load_dimensions", "scale_labels", "score", "onet_interests",
    "next_steps", "credit", "run_terminal_quiz", "METHOD", "save", "load_saved", "fit_words",
    "answers_for",
]

BACKEND = "backend-developer"
RIASEC = ("R", "I", "A", "S", "E", "C")
TECH = ("data", "systems", "visual", "infrastructure", "security", "analysis", "quality", "people", "product")
DIMENSIONS = RIASEC + TECH
GROUP_WEIGHTS = {"riasec": 0.4, "tech": 0.6}
SHAPE_SHARE = 0.5  # the rest is closeness
HIGH = 0.6         # a profile value at or above this counts as "high" in the reasons
GAP = 0.3          # a difference at least this large counts as a gap
FLAT = 0.25        # a profile whose values span less than this says little

METHOD = (
    "Your answers become a score from 0 to 1 on each of 15 dimensions (weighted means of the items tagged "
    "with it). Each career has a profile on the same dimensions: RIASEC interests from O*NET, tech-work "
    "dimensions from the course's documented judgements. The fit blends, half each, the shape of the two "
    "profiles (do you rate the same things high and low? a correlation) and their closeness (1 minus the "
    "mean difference). It is a self-reflection aid, not a validated test."
)


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    dimensions: dict[str, float]


@dataclass(frozen=True)
class Career:
    id: str
    title: str
    summary: str
    profile: dict[str, float]            # every dimension, 0-1
    basis: dict[str, str]                # dimension -> "O*NET <SOC>" or "judgement: <reason>"
    onet: tuple[str, ...] = ()
    onet_note: str = ""
    outside_software: bool = False


@dataclass(frozen=True)
class Reason:
    dimension: str
    label: str
    kind: str        # "shared", "gap" (the career needs more) or "unused" (you like more than it offers)
    you: float
    career: float
    text: str


@dataclass(frozen=True)
class CareerFit:
    career_id: str
    title: str
    fit: float
    shape: float
    closeness: float
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class QuizResult:
    profile: dict[str, float]
    ranking: tuple[CareerFit, ...]
    backend_fit: float
    top_reasons: tuple[Reason, ...]
    answers: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    version: int = 1

    def fit_of(self, career_id: str) -> CareerFit:
        for entry in self.ranking:
            if entry.career_id == career_id:
                return entry
        raise KeyError(f"no career {career_id!r} in the result")

    def rank_of(self, career_id: str) -> int:
        """1 for the best fit."""
        return [c.career_id for c in self.ranking].index(career_id) + 1

    def top(self, n: int = 3) -> tuple[CareerFit, ...]:
        return self.ranking[:n]

    def to_dict(self) -> dict:
        """A JSON-ready dict (for the progress store)."""
        return asdict(self)

    def summary_lines(self, n: int = 5) -> list[str]:
        lines = [f"Back-end fit: {self.backend_fit:.0f}/100 (rank {self.rank_of(BACKEND)} of {len(self.ranking)})"]
        for i, entry in enumerate(self.top(n), start=1):
            lines.append(f"{i:>2}. {entry.title:<45} {entry.fit:5.1f}")
        lines.append(f"Why {self.ranking[0].title} comes first:")
        lines.extend(f"    - {reason.text}" for reason in self.top_reasons)
        lines.extend(f"Note: {note}" for note in self.notes)
        return lines


# --------------------------------------------------------------------------------------------- data

@lru_cache(maxsize=1)
def _items_file() -> dict:
    return data.load("quiz_items.yaml")


@lru_cache(maxsize=1)
def _careers_file() -> dict:
    return data.load("careers.yaml")


def load_dimensions() -> dict[str, dict]:
    """Dimension id -> {label, group, describes, steps}."""
    dims = _items_file()["dimensions"]
    missing = [d for d in DIMENSIONS if d not in dims]
    if missing:
        raise ValueError(f"quiz_items.yaml: dimensions missing: {', '.join(missing)}")
    return {d: dict(dims[d]) for d in DIMENSIONS}


def scale_labels() -> dict[int, str]:
    """The answer scale: 1 -> 'Strongly dislike' ... 5 -> 'Strongly like'."""
    return {int(k): v for k, v in _items_file()["scale"].items()}


@lru_cache(maxsize=1)
def load_items() -> tuple[Item, ...]:
    """The quiz items, in order, each with ``id``, ``text`` and ``dimensions`` ({dimension: weight})."""
    items = []
    for raw in _items_file()["items"]:
        unknown = [d for d in raw["dimensions"] if d not in DIMENSIONS]
        if unknown:
            raise ValueError(f"quiz item {raw['id']}: unknown dimension(s) {', '.join(unknown)}")
        items.append(Item(id=raw["id"], text=raw["text"],
                          dimensions={d: float(w) for d, w in raw["dimensions"].items()}))
    return tuple(items)


def _onet_mean(codes: list[str], dim: str, occupations: dict) -> float | None:
    values = [occupations[code].get(dim) for code in codes]
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)


@lru_cache(maxsize=1)
def load_careers() -> tuple[Career, ...]:
    """The career profiles, every dimension rescaled to 0-1, with the basis of each value."""
    raw = _careers_file()
    occupations = raw["occupations"]
    careers = []
    for entry in raw["careers"]:
        codes = [str(c) for c in entry.get("onet", [])]
        judged = entry.get("riasec_judgements", {})
        profile, basis = {}, {}
        for dim in RIASEC:
            value = _onet_mean(codes, dim, occupations) if codes else None
            if value is not None and dim not in judged:
                basis[dim] = f"O*NET {' + '.join(codes)}"
            elif dim in judged:
                value, reason = judged[dim]
                basis[dim] = f"judgement: {reason}"
            else:
                raise ValueError(f"careers.yaml: {entry['id']} has no value for {dim}")
            profile[dim] = round((float(value) - 1) / 6, 4)
        for dim in TECH:
            if dim not in entry["tech"]:
                raise ValueError(f"careers.yaml: {entry['id']} has no judgement for {dim}")
            value, reason = entry["tech"][dim]
            profile[dim] = round((float(value) - 1) / 4, 4)
            basis[dim] = f"judgement: {reason}"
        careers.append(Career(id=entry["id"], title=entry["title"], summary=entry["summary"], profile=profile,
                              basis=basis, onet=tuple(codes), onet_note=entry.get("onet_note", ""),
                              outside_software=bool(entry.get("outside_software", False))))
    return tuple(careers)


def credit() -> str:
    """The O*NET credit line (CC BY 4.0) to show wherever O*NET-derived values are shown."""
    return " ".join(_careers_file()["credit"].split())


def onet_interests():
    """The O*NET interest levels (1-7) of the occupations in the course data, as a pandas DataFrame."""
    import pandas as pd

    rows = []
    for soc, occ in _careers_file()["occupations"].items():
        if all(d in occ for d in RIASEC):
            rows.append({"soc": str(soc), "occupation": occ["title"], **{d: occ[d] for d in RIASEC},
                         "high_point": occ["high_point"]})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------- scoring

def _validate(answers) -> dict[str, int]:
    if not isinstance(answers, dict):
        raise ValueError(f"answers must be a dict of item id -> 1..5, got {type(answers).__name__}")
    ids = [item.id for item in load_items()]
    unknown = sorted(str(k) for k in answers if k not in ids)
    missing = [i for i in ids if i not in answers]
    bad = sorted(f"{k}={v!r}" for k, v in answers.items()
                 if k in ids and (isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 5))
    problems = []
    if unknown:
        problems.append(f"unknown item id(s): {', '.join(unknown)}")
    if missing:
        problems.append(f"missing answer(s) for: {', '.join(missing)}")
    if bad:
        problems.append(f"answers must be whole numbers from 1 to 5: {', '.join(bad)}")
    if problems:
        raise ValueError("; ".join(problems))
    return {i: answers[i] for i in ids}


def _profile(answers: dict[str, int]) -> dict[str, float]:
    totals = dict.fromkeys(DIMENSIONS, 0.0)
    weights = dict.fromkeys(DIMENSIONS, 0.0)
    for item in load_items():
        level = (answers[item.id] - 1) / 4
        for dim, weight in item.dimensions.items():
            totals[dim] += abs(weight) * (level if weight > 0 else 1 - level)
            weights[dim] += abs(weight)
    return {d: round(totals[d] / weights[d], 4) if weights[d] else 0.5 for d in DIMENSIONS}


def _pearson(xs: list[float], ys: list[float]) -> float:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx < 1e-12 or syy < 1e-12:
        return 0.0  # a flat profile has no shape: neither like nor unlike any career
    return sxy / math.sqrt(sxx * syy)


def _reasons(you: dict[str, float], career: Career, dims: dict[str, dict]) -> tuple[Reason, ...]:
    found = []
    for d in DIMENSIONS:
        x, y = you[d], career.profile[d]
        label = dims[d]["label"]
        what = dims[d]["describes"]
        if x >= HIGH and y >= HIGH:
            strength = min(x, y)
            found.append((0, -strength, Reason(d, label, "shared", x, y,
                          f"{label} ({what}): you enjoy it, and this career leans on it.")))
        elif y - x >= GAP:
            found.append((1, -(y - x), Reason(d, label, "gap", x, y,
                          f"{label} ({what}): this career needs more of it than you seem to enjoy.")))
        elif x - y >= GAP:
            found.append((2, -(x - y), Reason(d, label, "unused", x, y,
                          f"{label} ({what}): you enjoy it, but this career offers little of it.")))
    found.sort(key=lambda entry: (entry[0], entry[1], DIMENSIONS.index(entry[2].dimension)))
    shared = [r for _, _, r in found if r.kind == "shared"][:3]
    other = [r for _, _, r in sorted(found, key=lambda e: e[1]) if r.kind != "shared"][:2]
    return tuple(shared + other)


def _fit(you: dict[str, float], career: Career) -> tuple[float, float, float]:
    shape = sum(GROUP_WEIGHTS[name] * _pearson([you[d] for d in group], [career.profile[d] for d in group])
                for name, group in (("riasec", RIASEC), ("tech", TECH)))
    closeness = 1 - sum(abs(you[d] - career.profile[d]) for d in DIMENSIONS) / len(DIMENSIONS)
    fit = 100 * (SHAPE_SHARE * (shape + 1) / 2 + (1 - SHAPE_SHARE) * closeness)
    return round(fit, 1), round(shape, 4), round(closeness, 4)


def score(answers: dict[str, int]) -> QuizResult:
    """Score a complete set of answers ``{item_id: 1..5}``.

    Raises ``ValueError`` naming every missing item, unknown id and out-of-range value. The same answers
    always give the same result (ties in fit are broken by the order of the careers file).
    """
    answers = _validate(answers)
    you = _profile(answers)
    dims = load_dimensions()
    fits = []
    for order, career in enumerate(load_careers()):
        fit, shape, closeness = _fit(you, career)
        fits.append((-fit, order, CareerFit(career.id, career.title, fit, shape, closeness,
                                            _reasons(you, career, dims))))
    fits.sort(key=lambda entry: entry[:2])
    ranking = tuple(entry[2] for entry in fits)
    backend = next(c for c in ranking if c.career_id == BACKEND)
    notes = ()
    if max(you.values()) - min(you.values()) < FLAT:
        notes = ("Your answers vary little from one dimension to another, so the ranking rests on small "
                 "differences: read it with care.",)
    return QuizResult(profile=you, ranking=ranking, backend_fit=backend.fit, top_reasons=ranking[0].reasons,
                      answers=dict(answers), notes=notes)


def answers_for(preferences: dict[str, float], default: float = 0.2) -> dict[str, int]:
    """The answers a person with these preferences (dimension -> 0..1, others ``default``) would give.

    Used to build example personas: each item is answered by the weighted mean of the preferences it
    measures (reverse-keyed items the other way round), rounded to the 1-5 scale.
    """
    unknown = sorted(set(preferences) - set(DIMENSIONS))
    if unknown:
        raise ValueError(f"unknown dimension(s): {', '.join(unknown)}")
    answers = {}
    for item in load_items():
        total = sum(abs(w) * (preferences.get(d, default) if w > 0 else 1 - preferences.get(d, default))
                    for d, w in item.dimensions.items())
        level = total / sum(abs(w) for w in item.dimensions.values())
        answers[item.id] = 1 + round(4 * min(max(level, 0.0), 1.0))
    return answers


def fit_words(fit: float) -> str:
    """The fit in words, so that no reader depends on a colour or a number alone."""
    if fit >= 80:
        return "a strong fit"
    if fit >= 65:
        return "a good fit"
    if fit >= 50:
        return "a partial fit"
    return "a weak fit"


def next_steps(result: QuizResult, limit: int = 3) -> list[dict]:
    """Course steps to revisit: those behind the back-end dimensions the learner rated lowest.

    Each entry is ``{stem, title, dimension, why}``; only ready or planned steps of the manifest appear.
    """
    from course.platform import manifest

    titles = {s.stem: s.title for s in manifest.load_manifest()}
    backend = next(c for c in load_careers() if c.id == BACKEND)
    dims = load_dimensions()
    core = [d for d in TECH if backend.profile[d] >= 0.5]
    core.sort(key=lambda d: (result.profile[d] - backend.profile[d], DIMENSIONS.index(d)))
    steps, seen = [], set()
    for d in core:
        for stem in dims[d]["steps"]:
            if stem in titles and stem not in seen:
                seen.add(stem)
                gap = backend.profile[d] - result.profile[d]
                why = (f"back-end work needs {dims[d]['describes']}; "
                       + ("this is where you rated yourself furthest from it" if gap > 0
                          else "you already enjoy it, so build on it"))
                steps.append({"stem": stem, "title": titles[stem], "dimension": dims[d]["label"], "why": why})
                break
        if len(steps) >= limit:
            break
    return steps


# --------------------------------------------------------------------------------------------- saving

RESULT_KIND = "quiz"


def save(result: QuizResult, workspace=None) -> str:
    """Save the answers and the result to the learner's progress store (kind ``quiz``); return its path."""
    from course.platform.progress import ProgressStore

    with ProgressStore(workspace) as store:
        store.save_result(RESULT_KIND, {"items_version": _items_file()["version"], **result.to_dict()})
        return str(store.path)


def load_saved(workspace=None) -> QuizResult | None:
    """The last saved quiz, scored again from its answers with the current data; ``None`` if there is none
    or if it was answered on a different set of items."""
    from course.platform.progress import ProgressStore

    with ProgressStore(workspace) as store:
        payload = store.load_result(RESULT_KIND)
    if not payload or payload.get("items_version") != _items_file()["version"]:
        return None
    try:
        return score({k: int(v) for k, v in payload.get("answers", {}).items()})
    except (ValueError, TypeError):
        return None


# --------------------------------------------------------------------------------------------- terminal

def run_terminal_quiz(input=input, output=print, workspace=None) -> QuizResult | None:  # noqa: A002
    """Ask every item in a terminal, print the result and save it to the progress store.

    Type 1-5 to answer, ``b`` to go back, ``q`` to stop. Returns the result, or ``None`` if stopped early
    (or standard input ended).
    """
    items = load_items()
    labels = scale_labels()
    output("Career-fit quiz: how much would you like each activity? A self-reflection aid, not a test.")
    output("  " + "   ".join(f"{k} = {v}" for k, v in labels.items()))
    output("  Type b to go back, q to stop.")
    answers: dict[str, int] = {}
    index = 0
    while index < len(items):
        item = items[index]
        try:
            reply = input(f"[{index + 1}/{len(items)}] {item.text} (1-5) ").strip().lower()
        except EOFError:
            output("Stopped: no more input. Nothing was saved.")
            return None
        if reply == "q":
            output("Stopped. Nothing was saved.")
            return None
        if reply == "b":
            index = max(index - 1, 0)
            continue
        if reply not in {"1", "2", "3", "4", "5"}:
            output("  Please type a number from 1 to 5 (or b to go back, q to stop).")
            continue
        answers[item.id] = int(reply)
        index += 1
    result = score(answers)
    for line in result.summary_lines():
        output(line)
    for step in next_steps(result):
        output(f"Revisit {step['stem']} ({step['title']}): {step['why']}.")
    output(f"Saved to {save(result, workspace)}.")
    return result
