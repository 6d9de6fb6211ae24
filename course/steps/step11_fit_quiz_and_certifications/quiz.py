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
5. Answers that do not tell careers apart get no fit in words, no next steps and no certifications, and the
   result says why: either the profile spans less than ``FLAT`` (judged on the items that raise a dimension,
   so that agreeing or disagreeing with every statement, the reverse-keyed ones included, still reads as
   flat; a correlation of a nearly flat profile is noise), or no dimension reaches ``ENJOY`` (nothing the
   learner enjoys, so no career can be said to suit them).
6. The reasons of a match are the dimensions the learner enjoys (at least ``ENJOY``) and the career leans on
   (at least ``HIGH``), where the career needs at least ``GAP`` more than the learner's score, or where the
   learner enjoys a dimension and the career offers at least ``GAP`` less. "You enjoy it" is never said
   below ``ENJOY``.
7. The next steps follow the learner's answers: the back-end dimensions furthest above the learner's score
   first, then the back-end dimensions the learner enjoys, then what the learner enjoys that back-end work
   uses less of; each says which it is, with both numbers.

Every number the learner sees goes through :func:`shown` (0-100, halves rounded up), so the notebook, the
widget and the terminal quiz (``course quiz``, :mod:`.terminal`) print the same figures; all of them go through
:func:`score`.
:data:`METHOD`, printed under every result, is built from the constants below, so it states the thresholds
the code uses.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from course import data

__all__ = [
    "Item", "Career", "Reason", "CareerFit", "QuizResult", "DIMENSIONS", "BACKEND",
    "load_items", "load_careers", "load_dimensions", "scale_labels", "score", "onet_interests",
    "next_steps", "credit", "METHOD", "save", "load_saved", "fit_words",
    "answers_for", "shown", "feeling", "ENJOY", "DISLIKE", "HIGH", "GAP", "FLAT", "FIT_WORDS",
]

BACKEND = "backend-developer"
RIASEC = ("R", "I", "A", "S", "E", "C")
TECH = ("data", "systems", "visual", "infrastructure", "security", "analysis", "quality", "people", "product")
DIMENSIONS = RIASEC + TECH
GROUP_WEIGHTS = {"riasec": 0.4, "tech": 0.6}
SHAPE_SHARE = 0.5  # the rest is closeness
ENJOY = 0.625      # a learner's score at or above this reads "you enjoy it" (answers averaging 3.5 of 5 or more)
DISLIKE = 0.375    # at or below this reads "you dislike it" (answers averaging 2.5 of 5 or less)
HIGH = 0.6         # a career value at or above this means the career leans on the dimension
GAP = 0.3          # a difference at least this large counts as a gap
FLAT = 0.25        # a learner's profile spanning less than this does not tell careers apart
FIT_WORDS = ((80, "a strong fit"), (65, "a good fit"), (50, "a partial fit"), (0, "a weak fit"))


def shown(value: float) -> int:
    """A 0-100 figure as the learner sees it: a whole number, halves rounded up (86.5 -> 87, 86.4 -> 86).

    The one rounding rule of the quiz: the notebook, the widget and the terminal all print through it.
    """
    return int(Decimal(repr(float(value))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _pct(share: float) -> str:
    """A 0-1 threshold on the 0-100 scale, without a needless '.0'."""
    return f"{100 * share:g}"


def _on_answer_scale(share: float) -> str:
    return f"{1 + 4 * share:g}"


METHOD = (
    "Your answers become a score from 0 to 100 on each of 15 dimensions: the weighted mean of the answers to "
    "the items tagged with it (Strongly dislike = 0, Dislike = 25, Unsure = 50, Like = 75, Strongly like = "
    "100; a reverse-keyed item counts the other way round). Each career has a profile on the same dimensions: "
    "RIASEC interests from O*NET, tech-work dimensions from the course's documented judgements. The fit "
    f"(0-100) blends, half each, shape and closeness. Shape asks whether you rate the same things high and low "
    f"as the career: a correlation, computed within the six RIASEC interests (weight "
    f"{_pct(GROUP_WEIGHTS['riasec'])} %) and within the nine kinds of technical work (weight "
    f"{_pct(GROUP_WEIGHTS['tech'])} %). Closeness is 100 minus the mean difference between the two profiles. "
    "In words: " + ", ".join(
        f"{low} or more is {words}" if low else f"below {FIT_WORDS[i - 1][0]} {words}"
        for i, (low, words) in enumerate(FIT_WORDS)) + ". "
    f"If your scores span less than {_pct(FLAT)} points (counting only the items that raise a score, so that "
    "agreeing with every statement still reads as flat), or if none reaches "
    f"{_pct(ENJOY)} (you enjoy none of them), your answers do not tell the careers apart and no fit is given. "
    "The reasons use fixed thresholds: you enjoy a dimension when you score "
    f"{_pct(ENJOY)} or more on it (answers averaging {_on_answer_scale(ENJOY)} of 5 or more) and dislike it at "
    f"{_pct(DISLIKE)} or less ({_on_answer_scale(DISLIKE)} of 5 or less); a career leans on a dimension at "
    f"{_pct(HIGH)} or more; a gap is a difference of {_pct(GAP)} points or more. It is a self-reflection aid, "
    "not a validated test."
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
    spread: float = 1.0          # highest minus lowest dimension score, from the items that raise it (0-1)

    @property
    def discriminating(self) -> bool:
        """Whether the answers tell careers apart: they vary (spread >= FLAT) and enjoy something (>= ENJOY)."""
        return self.spread >= FLAT and max(self.profile.values()) >= ENJOY

    def why_no_fit(self) -> str:
        """Why no fit is given ('' when the answers discriminate)."""
        if self.spread < FLAT:
            reverse = sum(1 for item in load_items() if any(w < 0 for w in item.dimensions.values()))
            points = shown(100 * self.spread)
            vary = "do not vary at all" if points == 0 else f"vary by only {points} points"
            return (f"Your answers do not tell the careers apart: leaving aside the {reverse} reverse-keyed "
                    f"statements, your dimension scores {vary} from one dimension to another (the quiz needs "
                    f"{_pct(FLAT)} or more), so no fit is given. Answer again and use the whole scale: Like for "
                    "what you would choose, Dislike for what you would avoid.")
        if max(self.profile.values()) < ENJOY:
            return (f"Your answers do not tell the careers apart: you enjoy none of the 15 dimensions (none "
                    f"reaches {_pct(ENJOY)}, answers averaging {_on_answer_scale(ENJOY)} of 5), so the quiz "
                    "cannot say which of these careers you would like, and gives no fit. If some activities "
                    "did appeal to you, answer again and mark them Like.")
        return ""

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

    def headline(self) -> str:
        """The result in one sentence: the back-end fit in figures and words, or why none is given."""
        if not self.discriminating:
            return self.why_no_fit()
        return (f"Back-end fit: {shown(self.backend_fit)}/100, {fit_words(self.backend_fit)} "
                f"(rank {self.rank_of(BACKEND)} of {len(self.ranking)})")

    def summary_lines(self, n: int = 5) -> list[str]:
        lines = [self.headline()]
        if not self.discriminating:
            return lines
        for i, entry in enumerate(self.top(n), start=1):
            lines.append(f"{i:>2}. {entry.title:<45} {shown(entry.fit):>3}  {fit_words(entry.fit)}")
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


def _profile(answers: dict[str, int], raising_only: bool = False) -> dict[str, float]:
    """Dimension -> weighted mean answer (0-1); ``raising_only`` leaves out the reverse-keyed items."""
    totals = dict.fromkeys(DIMENSIONS, 0.0)
    weights = dict.fromkeys(DIMENSIONS, 0.0)
    for item in load_items():
        level = (answers[item.id] - 1) / 4
        for dim, weight in item.dimensions.items():
            if raising_only and weight < 0:
                continue
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


def feeling(score: float) -> str:
    """What a learner's dimension score (0-1) says in words, by the ENJOY and DISLIKE thresholds."""
    if score >= ENJOY:
        return "you enjoy it"
    if score <= DISLIKE:
        return "you dislike it"
    return "you are neither keen on it nor against it"


def _reasons(you: dict[str, float], career: Career, dims: dict[str, dict]) -> tuple[Reason, ...]:
    found = []
    for d in DIMENSIONS:
        x, y = you[d], career.profile[d]
        label = dims[d]["label"]
        what = dims[d]["describes"]
        figures = f"you {shown(100 * x)}, the career {shown(100 * y)}"
        if x >= ENJOY and y >= HIGH:
            found.append((0, -min(x, y), Reason(d, label, "shared", x, y,
                          f"{label} ({what}): you enjoy it, and this career leans on it ({figures}).")))
        elif y - x >= GAP:
            found.append((1, -(y - x), Reason(d, label, "gap", x, y,
                          f"{label} ({what}): this career needs more of it than your answers show; "
                          f"{feeling(x)} ({figures}).")))
        elif x - y >= GAP and x >= ENJOY:
            found.append((2, -(x - y), Reason(d, label, "unused", x, y,
                          f"{label} ({what}): you enjoy it, but this career offers little of it ({figures}).")))
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
    # Flatness is judged without the reverse-keyed items: they turn "Strongly like" to everything into a
    # spread of its own (people and social scores fall), which says nothing about the learner.
    raising = _profile(answers, raising_only=True)
    spread = round(max(raising.values()) - min(raising.values()), 4)
    result = QuizResult(profile=you, ranking=ranking, backend_fit=backend.fit, top_reasons=ranking[0].reasons,
                        answers=dict(answers), spread=spread)
    return replace(result, notes=(result.why_no_fit(),)) if not result.discriminating else result


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
    """The fit in words, so that no reader depends on a colour or a number alone.

    Judged on the figure the learner sees (:func:`shown`), so "80" always reads "a strong fit".
    """
    figure = shown(fit)
    return next(words for low, words in FIT_WORDS if figure >= low)


def next_steps(result: QuizResult, limit: int = 3) -> list[dict]:
    """Course steps to do next, chosen from the learner's own answers.

    In order: the dimensions back-end work leans on (``HIGH``) where the learner scored at least ``GAP``
    below it, largest gap first ("gap": try it before deciding); the dimensions back-end work leans on that
    the learner enjoys ("strength": build on it); what the learner enjoys that back-end work uses less of
    ("interest"). When there are gaps and also things the learner enjoys, the last place goes to the latter.
    Each entry is ``{stem, title, dimension, kind, you, career, why}``, with both scores on the 0-100 scale;
    only steps of the manifest appear, each once. Answers that do not discriminate get no steps.
    """
    from course.platform import manifest

    if not result.discriminating:
        return []
    titles = {s.stem: s.title for s in manifest.load_manifest()}
    backend = next(c for c in load_careers() if c.id == BACKEND)
    dims = load_dimensions()
    you, need = result.profile, backend.profile
    order = {d: i for i, d in enumerate(DIMENSIONS)}
    gaps = sorted((d for d in DIMENSIONS if need[d] >= HIGH and need[d] - you[d] >= GAP),
                  key=lambda d: (you[d] - need[d], order[d]))
    strengths = sorted((d for d in DIMENSIONS if need[d] >= HIGH and you[d] >= ENJOY),
                       key=lambda d: (-you[d], order[d]))
    interests = sorted((d for d in DIMENSIONS if need[d] < HIGH and you[d] >= ENJOY),
                       key=lambda d: (-you[d], need[d], order[d]))
    liked = [("strength", d) for d in strengths] + [("interest", d) for d in interests]
    first = [("gap", d) for d in gaps]
    keep = limit - 1 if liked else len(first)  # with gaps and likes both, the last place goes to a like
    candidates = first[:keep] + liked + first[keep:]

    steps, seen = [], set()
    for kind, d in candidates:
        stem = next((s for s in dims[d]["steps"] if s in titles and s not in seen), None)
        if stem is None:
            continue
        seen.add(stem)
        a, b, what = shown(100 * you[d]), shown(100 * need[d]), dims[d]["describes"]
        if kind == "gap":
            why = (f"back-end work leans on {what} ({b}/100) and you scored {a}/100 ({feeling(you[d])}): "
                   "try it here before you decide")
        elif kind == "strength":
            why = f"you enjoy {what} ({a}/100) and back-end work leans on it ({b}/100): build on it here"
        else:
            why = (f"you enjoy {what} ({a}/100); back-end work uses less of it ({b}/100), and this step of "
                   "the course exercises it")
        steps.append({"stem": stem, "title": titles[stem], "dimension": dims[d]["label"], "kind": kind,
                      "you": a, "career": b, "why": why})
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
