"""Helpers for step 03 (back-end frameworks): an in-memory table, the framework comparison, and checks.

- :class:`MemoryStore` is the storage behind the lesson's book API and the exercise's product API: a
  thread-safe table of dict rows with integer ids and optional unique columns. It stands in for the
  database of step 04, so the lesson compares frameworks and not storage layers.
- :func:`comparison_table` and :func:`endpoint_snippets` read ``course/data/frameworks.yaml`` (the
  side-by-side table of seven frameworks, and the same endpoint written in each);
  :func:`backend_usage_table` and :func:`backend_usage_note` show the back-end rows of the survey figures
  (``course/data/survey_figures.csv``), and name the frameworks no source gives a share for.
- :func:`contract_scenario` sends one fixed series of requests to a running book API and reports each
  status, so the FastAPI and the Flask versions can be compared line by line.
- :func:`leftovers` lists what a lesson left running (servers, listening ports, child processes).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable

from course import data

__all__ = [
    "DuplicateError",
    "MemoryStore",
    "comparison_table",
    "endpoint_snippets",
    "usage_figures",
    "backend_usage_table",
    "backend_usage_note",
    "contract_scenario",
    "leftovers",
]


class DuplicateError(ValueError):
    """A row would repeat the value of a unique column (what a database's UNIQUE constraint reports)."""

    def __init__(self, column: str, value):
        super().__init__(f"{column} {value!r} already exists")
        self.column = column
        self.value = value


class MemoryStore:
    """A table of rows (dicts) kept in memory, safe to use from several server threads.

    ``insert`` gives each row the next integer ``id`` (ids are never reused, like a database sequence);
    columns named in ``unique`` may not repeat a value (compared exactly, ``==``), else
    :class:`DuplicateError`. Every method returns copies, so a caller cannot change a stored row by accident.
    """

    def __init__(self, unique: Iterable[str] = ()):
        self.unique = tuple(unique)
        self._rows: dict[int, dict] = {}
        self._next_id = 1
        self._lock = threading.Lock()

    def _check_unique(self, row: dict, *, ignore_id: int | None = None) -> None:
        for column in self.unique:
            if column not in row:
                continue
            for other_id, other in self._rows.items():
                if other_id != ignore_id and other.get(column) == row[column]:
                    raise DuplicateError(column, row[column])

    def insert(self, row: dict) -> dict:
        """Store a copy of ``row`` with a new ``id``; return the stored row."""
        with self._lock:
            self._check_unique(row)
            stored = {"id": self._next_id, **{k: v for k, v in row.items() if k != "id"}}
            self._rows[self._next_id] = stored
            self._next_id += 1
            return dict(stored)

    def get(self, row_id: int) -> dict | None:
        with self._lock:
            row = self._rows.get(row_id)
            return dict(row) if row is not None else None

    def all(self) -> list[dict]:
        """Every row, ordered by id."""
        with self._lock:
            return [dict(self._rows[key]) for key in sorted(self._rows)]

    def count(self) -> int:
        with self._lock:
            return len(self._rows)

    def slice(self, offset: int, limit: int) -> list[dict]:
        """At most ``limit`` rows, ordered by id, skipping the first ``offset``."""
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must not be negative")
        with self._lock:
            keys = sorted(self._rows)[offset:offset + limit]
            return [dict(self._rows[key]) for key in keys]

    def update(self, row_id: int, changes: dict) -> dict | None:
        """Apply ``changes`` to a row (the id never changes); ``None`` when there is no such row."""
        with self._lock:
            row = self._rows.get(row_id)
            if row is None:
                return None
            changes = {k: v for k, v in changes.items() if k != "id"}
            self._check_unique(changes, ignore_id=row_id)
            row.update(changes)
            return dict(row)

    def delete(self, row_id: int) -> bool:
        """Remove a row; ``False`` when there was none."""
        with self._lock:
            return self._rows.pop(row_id, None) is not None

    def __len__(self) -> int:
        return self.count()

    def __repr__(self) -> str:
        return f"MemoryStore({self.count()} rows, unique={self.unique})"


# --- the side-by-side comparison ------------------------------------------------------------------------

TABLE_COLUMNS = {
    "name": "Framework",
    "language": "Language",
    "style": "Style",
    "orm": "ORM",
    "typical_use": "Typical use",
    "first_steps": "Before the first endpoint",
    "licence": "Licence",
}


def _frameworks() -> list[dict]:
    return data.load("frameworks.yaml")["frameworks"]


def comparison_table():
    """The seven frameworks side by side, as a pandas DataFrame (one row each, in the file's order)."""
    import pandas as pd

    rows = [{title: entry[key] for key, title in TABLE_COLUMNS.items()} for entry in _frameworks()]
    return pd.DataFrame(rows).set_index("Framework")


def endpoint_snippets() -> str:
    """GET /books/{id} in each framework, as Markdown (a heading and a fenced code block each)."""
    parts = []
    for entry in _frameworks():
        parts.append(f"**{entry['name']}** ({entry['language']})\n\n"
                     f"```{entry['snippet_language']}\n{entry['endpoint'].rstrip()}\n```")
    return "\n\n".join(parts)


SURVEY_FILE = "survey_figures.csv"


def usage_figures() -> dict:
    """The survey table the back-end shares come from, and its back-end frameworks no source gives a share for."""
    return data.load("frameworks.yaml")["usage"]


def backend_usage_table(year: int = 2024):
    """The back-end rows of the survey's web-framework table with a sourced share, largest first (a DataFrame).

    One row per framework or runtime: its share of respondents, which respondents, the page the figure was
    read from, that page's own date (or "retrieved ..." when it has none) and the day it was read.
    """
    import pandas as pd

    rows = [row for row in data.load(SURVEY_FILE) if row["category"] == "web framework"
            and row["backend_framework"] == "true" and int(row["year"]) == year]
    table = pd.DataFrame({
        "Framework or runtime": [row["item"] for row in rows],
        "% of respondents": [float(row["share_pct"]) for row in rows],
        "Respondents": [row["respondents"] for row in rows],
        "Read from": [f"second-hand: {row['via']}" if row["second_hand"] == "true" else row["source_url"]
                      for row in rows],
        "Page dated": [row["source_date"] for row in rows],
        "Retrieved": [row["retrieved"] for row in rows],
    })
    return table.sort_values("% of respondents", ascending=False, ignore_index=True)


def backend_usage_note(year: int = 2024) -> str:
    """Markdown worded from the data: the sourced back-end shares, and which frameworks have none."""
    usage = usage_figures()
    table = backend_usage_table(year)
    shares = ", ".join(f"{name} {share:g}%" for name, share in
                       zip(table["Framework or runtime"], table["% of respondents"], strict=True))
    missing = usage["not_found"] if usage["year"] == year else []
    runtime = "; Node.js is a runtime the survey lists in the same table" if "Node.js" in shares else ""
    text = (f"**{usage['survey'] if usage['year'] == year else year}, \"{usage['table']}\"**: {shares} of "
            f"respondents (several answers per person, so shares overlap{runtime}).")
    if missing:
        text += (f" **Not given here: {', '.join(missing)}.** No source the course could read "
                 f"(searched {usage['searched']}) gives their share, so none is shown. "
                 f"{usage['what_the_sources_say']}")
    return text


# --- one contract, two implementations ------------------------------------------------------------------

SAMPLE_BOOK = {"title": "Structure and Interpretation of Computer Programs", "author": "Abelson and Sussman",
               "year": 1985, "isbn": "9780262510875"}


def contract_scenario(client, api_key: str) -> list[dict]:
    """Send the same requests to a book API and return one row per request: what was sent, what came back.

    ``client`` is an ``httpx.Client`` whose ``base_url`` is the API (a real server on 127.0.0.1). The API
    is expected to be empty at the start; the scenario deletes what it creates, so it can run again.
    """
    rows: list[dict] = []

    def send(step: str, method: str, url: str, **kwargs):
        response = client.request(method, url, **kwargs)
        body = response.json() if response.content and "json" in response.headers.get("content-type", "") \
            else None
        error = body.get("error") if isinstance(body, dict) else None
        rows.append({
            "step": step,
            "request": f"{method} {url}",
            "status": response.status_code,
            "error message": error.get("message") if isinstance(error, dict) else "",
        })
        return response, body

    created, book = send("create", "POST", "/books", json=SAMPLE_BOOK)
    book_url = created.headers.get("location", "/books/0")
    send("create it again", "POST", "/books", json=SAMPLE_BOOK)
    send("missing field", "POST", "/books", json={"title": "No author"})
    send("malformed JSON", "POST", "/books", content=b'{"title": ', headers={"content-type": "application/json"})
    send("read", "GET", book_url)
    send("read a missing book", "GET", "/books/999999")
    send("list, one per page", "GET", "/books?page=1&per_page=1")
    send("list, per_page=0", "GET", "/books?per_page=0")
    send("update", "PATCH", book_url, json={"year": 1996})
    send("delete without a key", "DELETE", book_url)
    send("delete with a wrong key", "DELETE", book_url, headers={"X-API-Key": api_key + "-wrong"})
    send("delete", "DELETE", book_url, headers={"X-API-Key": api_key})
    send("read it after delete", "GET", book_url)
    return rows


# --- nothing left behind --------------------------------------------------------------------------------

def _listening(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def leftovers(ports: Iterable[int] = ()) -> dict[str, list]:
    """What is still running: course servers, listening ``ports``, server threads, child processes.

    An empty list under every key means the lesson cleaned up after itself.
    """
    import psutil

    from course.components import servers

    return {
        "servers": [server.name for server in servers.running()],
        "open ports": [port for port in ports if _listening(port)],
        "server threads": [t.name for t in threading.enumerate()
                           if t.name.startswith("course-server-") and t.is_alive()],
        "child processes": [child.pid for child in psutil.Process().children(recursive=True)],
    }
