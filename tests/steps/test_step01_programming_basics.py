"""Step 01's exercise, checked in-process against the test cells of its nbgrader source (hidden ones too).

- A second, differently written correct solution of every part passes every test cell of that part, so the
  tests check behaviour, not one way of writing it.
- Plausible wrong answers (off-by-one, a string status, a set that loses order, True taken for an int...)
  each fail at least one test cell of their part, so the hidden tests catch them.
- The stub every part starts from fails every test cell.

Test cells run with ``exec`` in a fresh namespace holding the setup cell's names and the function under test,
as nbgrader runs them after the answer cells; no kernel, so the whole file takes well under a second.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from collections import Counter
from functools import partial
from itertools import islice
from pathlib import Path

import nbformat
import pytest

from course.platform import paths

STEM = "01-programming-basics"


# ---------------------------------------------------------------------------------------- the notebook
def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _load_parts() -> tuple[str, dict[str, list[tuple[str, str]]], dict[str, str]]:
    """(setup code, {function name: [(test grade_id, test code), ...]}, {function name: reference answer})
    read from the exercise source."""
    nb = nbformat.read(paths.solution_path(STEM), as_version=4)
    setup, parts, answers, current = "", {}, {}, None
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if cell.cell_type != "code" or not meta:
            continue
        if meta.get("solution"):
            current = re.search(r"^def (\w+)\(", cell.source, re.MULTILINE).group(1)
            parts[current], answers[current] = [], cell.source
        elif meta.get("grade"):
            parts[current].append((meta["grade_id"], cell.source))
        elif meta.get("locked"):
            setup += cell.source + "\n"
    return setup, parts, answers


SETUP, PARTS, ANSWERS = _load_parts()


def reference(name: str):
    """The exercise source's own solution of part ``name``."""
    namespace: dict = {}
    exec(ANSWERS[name], namespace)  # noqa: S102 - the course's own answer cell
    return namespace[name]


def run_test_cell(name: str, func, grade_id: str, source: str) -> BaseException | None:
    """Run one test cell with ``func`` bound to ``name``; return what it raised (None when it passed)."""
    namespace: dict = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(SETUP, namespace)  # noqa: S102 - the course's own setup cell
        namespace[name] = func
        try:
            exec(compile(source, f"<{grade_id}>", "exec"), namespace)  # noqa: S102 - the course's test cell
        except Exception as error:  # noqa: BLE001 - any exception fails the cell, as under nbgrader
            return error
    return None


# ---------------------------------------------------------------------- alternative correct solutions
_LOG_LINE = re.compile(
    r'(?P<ip>\S+) \S+ \S+ \[[^\]]*\] "(?P<method>\S+) (?P<target>\S+) \S+" (?P<status>[0-9]{3}) (?P<size>[0-9]+|-)'
    r'(?: "[^"]*" "[^"]*")?'
)


def parse_log_line_regex(line):
    match = _LOG_LINE.fullmatch(line.strip())
    if match is None or not 100 <= int(match["status"]) <= 599:
        raise ValueError(f"not a log line: {line!r}")
    path, query = (match["target"].split("?", 1) + [""])[:2]
    return {"ip": match["ip"], "method": match["method"], "path": path, "query": query,
            "status": int(match["status"]), "size": 0 if match["size"] == "-" else int(match["size"])}


def count_status_classes_counter(statuses):
    classes = Counter()
    for code in statuses:
        if code < 100 or code >= 600:
            raise ValueError(code)
        classes[str(code)[0] + "xx"] += 1
    return {name: classes[name] for name in ("1xx", "2xx", "3xx", "4xx", "5xx")}


_EMAIL = re.compile(r"[^@\s]+@[^@\s.][^@\s]*\.[^@\s]*[^@\s.]")  # a domain with an inner dot
_RULES = {
    "username": lambda v: isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9_]{3,20}", v) is not None,
    "email": lambda v: isinstance(v, str) and _EMAIL.fullmatch(v) is not None,
    "age": lambda v: isinstance(v, int) and not isinstance(v, bool) and v in range(13, 131),
}


def validate_signup_table(body):
    try:
        payload = json.loads(body)
    except ValueError:
        return {"body": "bad JSON"}
    if type(payload) is not dict:
        return {"body": "not an object"}
    errors = {field: "invalid" for field, ok in _RULES.items() if not ok(payload.get(field))}
    if not isinstance(payload.get("newsletter", False), bool):
        errors["newsletter"] = "must be a boolean"
    errors.update({field: "unexpected" for field in payload.keys() - {*_RULES, "newsletter"}})
    return errors


def unique_emails_fromkeys(emails):
    return list(dict.fromkeys(e.strip().lower() for e in emails if e is not None and e.strip()))


def paginate_islice(items, page, per_page=10):
    if page <= 0 or per_page <= 0 or per_page > 100:
        raise ValueError("bad page or page size")
    pages = math.ceil(len(items) / per_page)
    start = per_page * (page - 1)
    return {"items": list(islice(items, start, start + per_page)), "page": page, "per_page": per_page,
            "total": len(items), "pages": pages, "next": None if page >= pages else page + 1}


def read_jsonl_splitlines(path):
    good, bad = [], 0
    for text in Path(path).read_text(encoding="utf-8").splitlines():
        if text.isspace() or not text:
            continue
        try:
            value = json.loads(text)
            assert isinstance(value, dict)
        except (ValueError, AssertionError):
            bad += 1
        else:
            good.append(value)
    return (good, bad)


ALTERNATIVES = {
    "parse_log_line": parse_log_line_regex,
    "count_status_classes": count_status_classes_counter,
    "validate_signup": validate_signup_table,
    "unique_emails": unique_emails_fromkeys,
    "paginate": paginate_islice,
    "read_jsonl": read_jsonl_splitlines,
}


# ------------------------------------------------------------------------------ plausible wrong answers
# Each wrong answer is a correct solution with one mistake a learner plausibly makes, switched on by a flag.
def parse_log_line_with(line, *, first_question_mark=True, dash_size=0, status_range=True, digits_only=True,
                        status_type=int, combined=True, head_check=True, int_status=False, int_size=False,
                        method_case=str, ascii_digits=True):
    text = line.strip()
    if combined:
        parts = text.split('"')
        if len(parts) < 3:
            raise ValueError("no request")
        head, request, tail = parts[:3]
    else:
        head, request, tail = text.split('"')
    fields_before = len(head.split()) == 5 if head_check else head.split()  # ip, 2 identities, [time zone]
    if not fields_before or len(request.split()) != 3 or len(tail.split()) != 2:
        raise ValueError("wrong number of fields")
    method, target, _ = request.split()
    status, size = tail.split()
    if int_status:  # int() and a range check: '+200', '0200' and '2_00' get through
        if not 100 <= int(status) <= 599:
            raise ValueError("bad status")
    elif not status.isdigit() or len(status) != 3 or status_range and not 100 <= int(status) <= 599:
        raise ValueError("bad status")
    if ascii_digits and not (status + size).isascii():  # without it: isdigit() and int() take '２００' as 200
        raise ValueError("not 0-9")
    if size != "-" and int_size and int(size) < 0:  # int() and a sign check: '+15' and '1_5' get through
        raise ValueError("bad size")
    if size != "-" and digits_only and not int_size and not size.isdigit():
        raise ValueError("bad size")
    pieces = target.split("?", 1) if first_question_mark else target.split("?")[:2]
    path, query = pieces if len(pieces) == 2 else (target, "")
    return {"ip": head.split()[0], "method": method_case(method), "path": path, "query": query,
            "status": status_type(status), "size": dash_size if size == "-" else int(size)}


def parse_log_line_upper_method_only(line):
    """Refuses a method that is not in capitals, where the method is kept as written."""
    record = parse_log_line_with(line)
    if not record["method"].isupper():
        raise ValueError("not a method")
    return record


def parse_log_line_fixed_positions(line):
    fields = line.split()
    target = fields[6]
    return {"ip": fields[0], "method": fields[5].strip('"'), "path": target.split("?")[0],
            "query": target.split("?")[1] if "?" in target else "", "status": int(fields[8]),
            "size": 0 if fields[9] == "-" else int(fields[9])}


def count_status_classes_with(statuses, *, all_keys=True, inclusive=True, validate=True, two_passes=False):
    if two_passes:
        for code in statuses:
            if not 100 <= code <= 599:
                raise ValueError(code)
    counts = dict.fromkeys(("1xx", "2xx", "3xx", "4xx", "5xx"), 0) if all_keys else {}
    for code in statuses:
        if validate and not 100 <= code <= 599:
            raise ValueError(code)
        low = code // 100 * 100
        if inclusive or low < code:
            key = f"{code // 100}xx"
            counts[key] = counts.get(key, 0) + 1
    return counts


def validate_signup_with(body, *, all_problems=True, newsletter_equals=False, text_age=False, age_low=13,
                         age_high=130, unknown=True, null_newsletter=False, object_check=True,
                         username=r"[A-Za-z0-9_]{3,20}", fullmatch=True, strict_email=True):
    if not object_check:
        payload = json.loads(body)  # raises on bad JSON; a list has no .get
    else:
        try:
            payload = json.loads(body)
        except ValueError:
            return {"body": "not JSON"}
        if not isinstance(payload, dict):
            return {"body": "not an object"}
    problems = {}
    name = payload.get("username")
    match = re.fullmatch if fullmatch else re.match
    if not (isinstance(name, str) and match(username, name)):
        problems["username"] = "bad username"
    email = payload.get("email")
    loose = isinstance(email, str) and "@" in email and "." in email
    if not (_RULES["email"](email) if strict_email else loose):
        problems["email"] = "bad email"
    age = payload.get("age")
    if text_age and isinstance(age, str) and age.isdigit():
        age = int(age)
    if not (isinstance(age, int) and not isinstance(age, bool) and age_low <= age <= age_high):
        problems["age"] = "bad age"
    newsletter = payload.get("newsletter")
    wrong_type = newsletter not in (True, False) if newsletter_equals else not isinstance(newsletter, bool)
    if "newsletter" in payload and wrong_type and not (null_newsletter and newsletter is None):
        problems["newsletter"] = "must be a boolean"
    if unknown:
        problems.update({key: "unknown" for key in payload if key not in {*_RULES, "newsletter"}})
    return problems if all_problems else dict(list(problems.items())[:1])


def unique_emails_sorted_set(emails):
    return sorted({e.strip().lower() for e in emails if e and e.strip()})


def unique_emails_domain_lowered(emails):
    result = []
    for e in emails:
        if e and e.strip():
            local, _, domain = e.strip().rpartition("@")
            if f"{local}@{domain.lower()}" not in result:
                result.append(f"{local}@{domain.lower()}")
    return result


def unique_emails_no_strip(emails):
    return list(dict.fromkeys(e.lower() for e in emails if e))


def unique_emails_none_crashes(emails):
    return list(dict.fromkeys(e.strip().lower() for e in emails if e.strip()))


def unique_emails_keeps_blanks(emails):
    return list(dict.fromkeys(e.strip().lower() for e in emails if e is not None))


def unique_emails_in_place(emails):
    emails[:] = unique_emails_fromkeys(emails)
    return emails


def paginate_with(items, page, per_page=10, *, first_page=1, pages_formula="ceil", next_always=False,
                  past_end_error=False, cap=100, page_check=True):
    if page_check and page < 1 or per_page < 1 or cap and per_page > cap:
        raise ValueError("bad page or page size")
    pages = math.ceil(len(items) / per_page) if pages_formula == "ceil" else len(items) // per_page + 1
    if past_end_error and page > pages:
        raise ValueError("no such page")
    start = (page - first_page) * per_page
    return {"items": list(items[max(start, 0):max(start, 0) + per_page]), "page": page, "per_page": per_page,
            "total": len(items), "pages": pages, "next": page + 1 if next_always or page < pages else None}


def read_jsonl_with(path, *, count_blanks=False, objects_only=True, keep_going=True, missing_ok=False,
                    result=tuple, truthy=False):
    good, bad = [], 0
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        if missing_ok:
            return result(([], 0))
        raise
    for text in lines:
        if not text.strip():
            bad += count_blanks
            continue
        try:
            value = json.loads(text)
        except ValueError:
            bad += 1
            if not keep_going:
                break
            continue
        if (isinstance(value, dict) or not objects_only) and (value or not truthy):  # truthy: {} is lost
            good.append(value)
        else:
            bad += 1
    return result((good, bad))


def _wrong(func, **mistake):
    """``func`` with one mistake switched on, named after the mistake for the test ids."""
    wrong = partial(func, **mistake)
    wrong.__name__ = "-".join(f"{key}={getattr(value, '__name__', value)}" for key, value in mistake.items())
    return wrong


WRONG_ANSWERS = {
    "parse_log_line": [
        parse_log_line_fixed_positions,
        _wrong(parse_log_line_with, first_question_mark=False),
        _wrong(parse_log_line_with, dash_size=None),
        _wrong(parse_log_line_with, status_range=False),
        _wrong(parse_log_line_with, digits_only=False),
        _wrong(parse_log_line_with, status_type=str),
        _wrong(parse_log_line_with, combined=False),
        _wrong(parse_log_line_with, head_check=False),
        _wrong(parse_log_line_with, int_status=True),
        _wrong(parse_log_line_with, int_size=True),
        _wrong(parse_log_line_with, method_case=str.upper),
        _wrong(parse_log_line_with, ascii_digits=False),
        parse_log_line_upper_method_only,
    ],
    "count_status_classes": [
        _wrong(count_status_classes_with, all_keys=False),
        _wrong(count_status_classes_with, inclusive=False),
        _wrong(count_status_classes_with, validate=False),
        _wrong(count_status_classes_with, two_passes=True),
    ],
    "validate_signup": [
        _wrong(validate_signup_with, all_problems=False),
        _wrong(validate_signup_with, newsletter_equals=True),
        _wrong(validate_signup_with, text_age=True),
        _wrong(validate_signup_with, age_low=14),
        _wrong(validate_signup_with, age_high=129),
        _wrong(validate_signup_with, unknown=False),
        _wrong(validate_signup_with, null_newsletter=True),
        _wrong(validate_signup_with, object_check=False),
        _wrong(validate_signup_with, username=r"\w{3,20}"),
        _wrong(validate_signup_with, username=r"^[A-Za-z0-9_]{3,20}$", fullmatch=False),
        _wrong(validate_signup_with, strict_email=False),
    ],
    "unique_emails": [
        unique_emails_sorted_set, unique_emails_domain_lowered, unique_emails_no_strip,
        unique_emails_none_crashes, unique_emails_keeps_blanks, unique_emails_in_place,
    ],
    "paginate": [
        _wrong(paginate_with, first_page=0),
        _wrong(paginate_with, pages_formula="floor+1"),
        _wrong(paginate_with, next_always=True),
        _wrong(paginate_with, past_end_error=True),
        _wrong(paginate_with, cap=None),
        _wrong(paginate_with, page_check=False),
    ],
    "read_jsonl": [
        _wrong(read_jsonl_with, count_blanks=True),
        _wrong(read_jsonl_with, objects_only=False),
        _wrong(read_jsonl_with, keep_going=False),
        _wrong(read_jsonl_with, missing_ok=True),
        _wrong(read_jsonl_with, result=list),
        _wrong(read_jsonl_with, truthy=True),
    ],
}


def _stub(*args, **kwargs):
    raise NotImplementedError()


# ------------------------------------------------------------------------------------------------ tests
def test_every_part_has_tests_an_alternative_and_wrong_answers():
    assert len(PARTS) >= 6
    assert all(PARTS.values()), "a part without a test cell"
    assert set(ALTERNATIVES) == set(PARTS) == set(WRONG_ANSWERS)


@pytest.mark.parametrize("name", sorted(PARTS))
def test_the_reference_solution_gets_full_marks(name):
    failures = {grade_id: repr(error) for grade_id, source in PARTS[name]
                if (error := run_test_cell(name, reference(name), grade_id, source)) is not None}
    assert not failures


@pytest.mark.parametrize("name", sorted(ALTERNATIVES))
def test_a_differently_written_solution_gets_full_marks(name):
    failures = {grade_id: repr(error) for grade_id, source in PARTS[name]
                if (error := run_test_cell(name, ALTERNATIVES[name], grade_id, source)) is not None}
    assert not failures


@pytest.mark.parametrize(
    "name, wrong", [(name, wrong) for name, wrongs in WRONG_ANSWERS.items() for wrong in wrongs],
    ids=lambda value: getattr(value, "__name__", value) if callable(value) else value,
)
def test_a_plausible_wrong_answer_loses_points(name, wrong):
    outcomes = [run_test_cell(name, wrong, grade_id, source) for grade_id, source in PARTS[name]]
    assert any(outcome is not None for outcome in outcomes), f"all test cells of {name} pass a wrong answer"


@pytest.mark.parametrize("name", sorted(PARTS))
def test_the_stub_fails_every_test_cell(name):
    for grade_id, source in PARTS[name]:
        assert run_test_cell(name, _stub, grade_id, source) is not None, f"{grade_id} passed the stub"


# ------------------------------------------------------------------------------------------- the lesson
def test_the_lesson_labels_a_division_by_1024_kib_and_by_1000_kb():
    """A kB is 1,000 bytes and a KiB 1,024 (IEC 80000-13): every ``{x / 1024...} unit`` in the lesson says KiB."""
    nb = nbformat.read(paths.lesson_path(STEM), as_version=4)
    text = "\n".join(cell.source for cell in nb.cells)
    labelled = re.findall(r"/\s*(1024|1000)\b[^}]*\}\s*([A-Za-z]+)", text)
    assert labelled, "the lesson formats no size any more: this test no longer sees it"
    wrong = [(divisor, unit) for divisor, unit in labelled
             if {"1024": "KiB", "1000": "kB"}[divisor] != unit]
    assert not wrong, f"size divided and labelled with the wrong unit: {wrong}"
