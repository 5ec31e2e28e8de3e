#!/usr/bin/env python
"""Rebuild datasets/scanner/data/first_names.txt and last_names.txt from names-dataset.

names-dataset (MIT licence; Philippe Remy) counts first and last names by country. The full
lists hold ~730,000 first and ~980,000 last names and take gigabytes of memory to load, so the
scanner ships a derived extract: every name among the 1,000 most common first names (500 most
common last names) of at least one of the 105 countries covered, lower-cased with accents
folded (as the scanner compares them), minus titles and words that name kinds of places
("lake", "county", "saint"), which would make place names look like people.
Run in a scratch environment:

    python3.11 -m venv /tmp/names
    /tmp/names/bin/pip install names-dataset==3.3.1
    /tmp/names/bin/python tools/build_scanner_names.py
"""

from __future__ import annotations

import gzip
import importlib.util
import pickle
import sys
from importlib.metadata import version
from pathlib import Path

import names_dataset

ROOT = Path(__file__).resolve().parent.parent
# The vocabulary module alone (the scanner package needs the project's dependencies).
_spec = importlib.util.spec_from_file_location(
    "vocabulary", ROOT / "datasets" / "scanner" / "vocabulary.py"
)
vocabulary = importlib.util.module_from_spec(_spec)
sys.modules["vocabulary"] = vocabulary
_spec.loader.exec_module(vocabulary)
PLACE_WORDS = vocabulary.PLACE_WORDS

OUT = ROOT / "datasets" / "scanner" / "data"
LIMITS = {"first": 1000, "last": 500}
# Titles and function words the source counts as names (from "Mr Smith" written in one field).
NOT_NAMES = {
    "the", "and", "of", "mr", "mrs", "ms", "miss", "mister", "dr", "prof", "sir", "madam",
    "herr", "frau", "mme", "mlle", "sr", "sra", "srta", "unknown", "none", "null", "test",
    "user", "admin", "name",
}  # fmt: skip


def main() -> None:
    folder = Path(names_dataset.__file__).parent / "v3"
    for kind, limit in LIMITS.items():
        with gzip.open(folder / f"{kind}_names.pkl.gz") as handle:
            names = pickle.load(handle)  # noqa: S301 - the package's own data file
        kept = set()
        for name, info in names.items():
            ranks = info.get("rank") or {}
            if ranks and min(ranks.values()) <= limit:
                word = vocabulary.fold(name.strip())
                if len(word) >= 2 and word.isalpha() and word not in PLACE_WORDS | NOT_NAMES:
                    kept.add(word)
        header = (
            f"# {kind} names: names-dataset {version('names-dataset')} (MIT), every name ranked "
            f"in the top {limit} of at least one country; rebuilt by tools/build_scanner_names.py\n"
        )
        (OUT / f"{kind}_names.txt").write_text(header + "\n".join(sorted(kept)) + "\n")
        print(kind, len(kept))


if __name__ == "__main__":
    main()
