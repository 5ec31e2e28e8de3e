"""Word lists the scanner matches against, loaded once from the data files in ``data/``.

- ``headers.toml``: column-name phrases per rule and language (en, de, fr, es, it, nl, pt).
- ``values.toml``: value vocabularies (race and ethnicity, religion, sexual orientation,
  political parties, diseases, gender, marital status), words that make a value a place or an
  organisation, and column-name words that make a row a place, product or machine.
- ``first_names.txt`` / ``last_names.txt``: an extract of names-dataset (see
  tools/build_scanner_names.py).

Everything is compared in one normal form: lower case, accents folded, words split on anything
that is not a letter or digit (``fold_words("Christian (Catholic)") == ("christian",
"catholic")``)."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
_NON_WORD = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Lower case without accents: ``"Längengrad"`` → ``"langengrad"``, ``"ß"`` → ``"ss"``."""
    if text.isascii():
        return text.lower()
    text = text.replace("ß", "ss").replace("ẞ", "ss")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


@lru_cache(maxsize=8192)
def fold_words(text: str) -> tuple[str, ...]:
    """Cached: each distinct value is looked up by several vocabularies in turn."""
    return tuple(word for word in _NON_WORD.split(fold(text)) if word)


def phrase(text: str) -> tuple[str, ...]:
    return fold_words(text)


@dataclass(frozen=True)
class Vocabulary:
    """Single words and multi-word phrases of one value vocabulary."""

    terms: frozenset[tuple[str, ...]]
    neutral: frozenset[tuple[str, ...]]
    longest: int

    def hits(self, words: tuple[str, ...]) -> tuple[int, int]:
        """(words covered by a term, words covered by a neutral term or a term)."""
        covered, neutral, i = 0, 0, 0
        while i < len(words):
            for width in range(min(self.longest, len(words) - i), 0, -1):
                piece = words[i : i + width]
                if piece in self.terms:
                    covered += width
                    i += width
                    break
                if piece in self.neutral:
                    neutral += width
                    i += width
                    break
            else:
                i += 1
        return covered, covered + neutral


def _vocabulary(entry: dict) -> Vocabulary:
    terms = frozenset(phrase(t) for t in entry.get("terms", ()))
    neutral = frozenset(phrase(t) for t in entry.get("neutral", ())) - terms
    longest = max((len(t) for t in terms | neutral), default=1)
    return Vocabulary(terms, neutral, longest)


@cache
def _values_file() -> dict:
    return tomllib.loads((DATA / "values.toml").read_text(encoding="utf-8"))


@cache
def header_phrases() -> dict[str, tuple[list[tuple[str, ...]], frozenset[tuple[str, ...]]]]:
    """Rule key → (phrases in every language, the ambiguous ones)."""
    raw = tomllib.loads((DATA / "headers.toml").read_text(encoding="utf-8"))
    result = {}
    for key, languages in raw.items():
        phrases = [
            phrase(p) for lang, items in languages.items() if lang != "ambiguous" for p in items
        ]
        ambiguous = frozenset(phrase(p) for p in languages.get("ambiguous", ()))
        result[key] = ([p for p in phrases if p], ambiguous)
    return result


@cache
def vocabulary(name: str) -> Vocabulary:
    return _vocabulary(_values_file()[name])


@cache
def colour_words() -> frozenset[tuple[str, ...]]:
    return frozenset(phrase(t) for t in _values_file()["race_ethnicity"]["colours"])


@cache
def _names(kind: str) -> frozenset[str]:
    lines = (DATA / f"{kind}_names.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(fold(line) for line in lines if line and not line.startswith("#"))


def first_names() -> frozenset[str]:
    return _names("first")


def last_names() -> frozenset[str]:
    return _names("last")


PLACE_WORDS = frozenset(
    word for term in _values_file()["places"]["terms"] for word in phrase(term) if len(word) > 2
)


@cache
def thing_phrases() -> frozenset[tuple[str, ...]]:
    return frozenset(phrase(t) for t in _values_file()["things"]["terms"])
