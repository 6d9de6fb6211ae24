"""Data files shipped with the course (manifest, facts, quiz items, certifications), read by name."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

DATA_DIR = Path(__file__).resolve().parent


def path(name: str) -> Path:
    """The path of a data file shipped in ``course/data`` (raises FileNotFoundError with the name)."""
    target = DATA_DIR / name
    if not target.is_file():
        raise FileNotFoundError(f"no course data file named {name!r} in {DATA_DIR}")
    return target


def load(name: str):
    """Load a data file by name: YAML and JSON into Python objects, CSV into a list of dicts."""
    target = path(name)
    text = target.read_text(encoding="utf-8")
    if target.suffix in {".yaml", ".yml"}:
        return yaml.safe_load(text)
    if target.suffix == ".json":
        return json.loads(text)
    if target.suffix == ".csv":
        return list(csv.DictReader(text.splitlines()))
    return text
