"""Combine column-name and value signals into one explained proposal per column.

How a proposal is decided (docs/scanner.md has the full rules):

1. Every applicable value detector runs over at most ``MAX_VALUES_PER_COLUMN`` non-empty values.
2. A *decisive* detector (a validator: email, card, IBAN, national id, IP, phone, coordinates...)
   that matches at least ``DECIDING_SHARE`` of the values sets the category, even against the
   column name: a ``user_id`` column full of email addresses is an email column.
3. Otherwise the column name decides. A value detector of the same category raises the
   confidence; if the name expects a detector that matches almost nothing, the confidence halves.
4. Otherwise a *supporting* detector (first names, dates, free text) decides on its own.
5. Otherwise the column is not personal data, with a confidence that grows with the sample.

Explanations carry counts and masked examples only: no raw value ever leaves this module."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date, datetime, time
from decimal import Decimal
from uuid import UUID

from datasets.scanner import masking
from datasets.scanner.column_names import NameMatch, match_column_name, tokenize
from datasets.scanner.detectors import DETECTORS, Context, ValueDetector
from datasets.scanner.readers import Sample
from datasets.taxonomy import BY_KEY, Role, Special

MAX_VALUES_PER_COLUMN = 500
MAX_EXAMPLES = 3
DECIDING_SHARE = 0.3  # share of values a detector must match to decide the category
SHOWN_SHARE = 0.1  # share of values a detector must match to be listed as a signal
CONTRADICTION_MIN_VALUES = 5  # values needed before "the values do not confirm the name"
NULL_MARKERS = frozenset({"null", "none", "nan", "n/a", "na", "-", "\\n"})
MAX_VALUE_CHARS = 10_000  # detectors look at the start of very long values only

ROLE_LABELS = dict(Role.CHOICES)
SPECIAL_LABELS = dict(Special.CHOICES)

# Suggested treatment by category; the most specific key wins. Special categories are dropped.
TREATMENTS = {
    "user.contact.email": "pseudonymize",
    "user.contact.phone_number": "pseudonymize",
    "user.contact.address.postal_code": "generalize",
    "user.contact.address.city": "generalize",
    "user.contact.address.state": "keep",
    "user.contact.address.country": "keep",
    "user.contact.address": "drop",
    "user.contact": "pseudonymize",
    "user.name": "drop",  # names are few; hashing them is reversible by trying them all
    "user.unique_id": "pseudonymize",
    "user.account": "pseudonymize",
    "user.authorization.credentials": "drop",
    "user.government_id": "drop",
    "user.financial.credit_card": "mask",
    "user.financial.bank_account": "mask",
    "user.financial": "generalize",
    "user.device": "pseudonymize",
    "user.location": "generalize",
    "user.demographic.date_of_birth": "generalize",
    "user.demographic.age_range": "generalize",
    "user.demographic": "keep",
    "user.workplace": "generalize",
    "user.behavior": "keep",
    "user.content.public": "keep",
    "user.content": "drop",
    "user": "pseudonymize",
    "system": "keep",
}
# Examples of these are not shown even masked: the category alone says enough.
WITHHELD = ("user.authorization.credentials",)


@dataclass(frozen=True)
class Signal:
    name: str  # "column_name:email", "value:email_validator", ...
    kind: str  # "column_name" | "value_pattern"
    matched: int  # sampled values that matched (0 for column-name signals)
    sampled: int  # non-empty values examined (0 for column-name signals)
    detail: str  # a sentence for people; never contains a value


@dataclass(frozen=True)
class ColumnProposal:
    column: str
    category: str | None
    role: str
    special_category: str
    treatment: str
    confidence: float
    signals: tuple[Signal, ...]
    examples: tuple[str, ...]  # masked, at most three
    evidence: str  # sha256 of category, role, special, signal names and 10% match buckets
    summary: str = ""

    def explanation(self) -> dict:
        """JSON-serialisable; contains counts, sentences and masked examples only."""
        return {
            "signals": [asdict(signal) for signal in self.signals],
            "examples": list(self.examples),
            "summary": self.summary,
        }


@dataclass(frozen=True)
class _Result:
    detector: ValueDetector
    matched: int
    sampled: int
    hits: tuple[str, ...]  # the first few matching values, for masked examples only

    @property
    def share(self) -> float:
        return self.matched / self.sampled if self.sampled else 0.0

    def signal(self) -> Signal:
        detail = f"{self.matched} of {self.sampled} non-empty values {self.detector.noun}."
        return Signal(
            f"value:{self.detector.key}", "value_pattern", self.matched, self.sampled, detail
        )


def scan_sample(sample: Sample) -> list[ColumnProposal]:
    """One proposal per column, in column order."""
    token_sets = {column: frozenset(tokenize(column)) for column in sample.columns}
    sample_tokens = Counter(token for tokens in token_sets.values() for token in tokens)
    return [
        _propose(column, _values(sample.rows, column), Context(token_sets[column], sample_tokens))
        for column in sample.columns
    ]


def _values(rows: list[dict[str, object]], column: str) -> list[str]:
    values: list[str] = []
    for row in rows:
        text = _as_text(row.get(column))
        if text is not None:
            values.append(text)
            if len(values) == MAX_VALUES_PER_COLUMN:
                break
    return values


def _as_text(value: object) -> str | None:
    """The text detectors look at, or None for empty values and for values they cannot judge
    (bytes, nested objects), which are not counted as examined."""
    if value is None or isinstance(value, bytes | bytearray | memoryview | dict):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return None if math.isnan(value) else repr(value)
    if isinstance(value, int | Decimal | UUID):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        # A [latitude, longitude] pair is the one nested shape detectors understand.
        if len(value) == 2 and all(isinstance(v, float | int) for v in value):
            return f"{value[0]}, {value[1]}"
        return None
    text = str(value)[:MAX_VALUE_CHARS].strip()
    return None if not text or text.lower() in NULL_MARKERS else text


def _run(detector: ValueDetector, counts: Counter[str], context: Context) -> _Result:
    """Each distinct value is tested once and counted as often as it occurs."""
    hinted = detector.hinted(context)
    matched, hits = 0, []
    for value, occurrences in counts.items():
        if detector.test(value, hinted):
            matched += occurrences
            if len(hits) < 20:
                hits.append(value)
    return _Result(detector, matched, counts.total(), tuple(hits))


def _value_confidence(result: _Result) -> float:
    size = min(1.0, 0.5 + result.sampled / 40)  # full weight from 20 values on
    return 0.95 * result.share * size * result.detector.weight


def _either(*confidences: float) -> float:
    """Independent evidence combined: 1 - the chance that every piece is wrong."""
    return min(0.99, 1 - math.prod(1 - c for c in confidences))


def _agree(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _confirms(result: _Result, category: str) -> bool:
    """A detector backs a column name when it matches a tenth of the values or more: a few
    stray Luhn-valid numbers in a ``card_number`` column of failures do not make it a card."""
    return (
        result.matched > 0
        and result.share >= SHOWN_SHARE
        and _agree(result.detector.category, category)
    )


def _broader(category: str) -> str:
    parent = category.rpartition(".")[0]
    return parent if parent in BY_KEY and parent != "user" else category


def _deeper(a: str, b: str) -> str:
    return a if a.count(".") >= b.count(".") else b


def _propose(column: str, values: list[str], context: Context) -> ColumnProposal:
    name = match_column_name(column)
    counts = Counter(values)  # insertion-ordered: examples keep the sample's order
    results = [_run(d, counts, context) for d in DETECTORS if d.applies(context)] if values else []
    deciding = [r for r in results if r.matched and r.share >= DECIDING_SHARE]
    decisive = [r for r in deciding if r.detector.overrides_name]
    supporting = [r for r in deciding if not r.detector.overrides_name]
    winner = max(decisive, key=lambda r: r.share, default=None)  # ties: registry order
    name_note = ""
    if winner is not None:
        category, confidence = winner.detector.category, _value_confidence(winner)
        if name and _agree(name.rule.category, category):
            category = _deeper(name.rule.category, category)
            confidence = _either(confidence, name.confidence)
        elif name:
            name_note = " The values outweigh the name."
    elif name is not None:
        category, confidence = name.rule.category, name.confidence
        agreeing = [r for r in results if _confirms(r, category)]
        expected = [r for r in results if r.detector.key in name.rule.expects]
        if agreeing:
            winner = max(agreeing, key=lambda r: r.share)
            confidence = _either(confidence, _value_confidence(winner))
        elif (
            expected
            and len(values) >= CONTRADICTION_MIN_VALUES
            and max(r.share for r in expected) < SHOWN_SHARE
        ):
            # "card_number" full of numbers that fail Luhn: not card numbers, but likely still
            # about the person's finances, so the broader category at low confidence.
            category, confidence = _broader(category), confidence / 2
            name_note = " The values do not confirm it, so the broader category is proposed."
    elif supporting:
        winner = max(supporting, key=lambda r: (r.share, r.detector.weight))
        category, confidence = winner.detector.category, _value_confidence(winner)
    else:
        return _nothing_found(column, values)

    signals = _signals(column, name, name_note, results, winner)
    examples = _examples(category, winner, values)
    return _proposal(column, category, round(confidence, 2), signals, examples)


def _signals(
    column: str, name: NameMatch | None, note: str, results: list[_Result], winner
) -> tuple[Signal, ...]:
    signals = []
    if name is not None:
        words = " ".join(name.phrase)
        label = BY_KEY[name.rule.category].name
        detail = f'The column name "{column}" contains "{words}", which suggests: {label}.{note}'
        signals.append(Signal(f"column_name:{name.rule.key}", "column_name", 0, 0, detail))
    # Expected detectors that found nothing are listed only when nothing confirmed the name:
    # they are the evidence against it.
    confirmed = name and any(_confirms(r, name.rule.category) for r in results)
    expected = name.rule.expects if name and not confirmed else ()
    shown = [
        r
        for r in results
        if r is winner or (r.share >= SHOWN_SHARE and r.matched) or r.detector.key in expected
    ]
    shown.sort(key=lambda r: -r.matched)  # stable: registry order among equals
    return tuple(signals + [r.signal() for r in shown])


def _examples(category: str, winner: _Result | None, values: list[str]) -> tuple[str, ...]:
    if BY_KEY[category].special or category.startswith(WITHHELD):
        return ()
    if winner is not None:
        mask, source = masking.MASKERS[winner.detector.mask], winner.hits
    else:
        mask, source = masking.masker_for_category(category), tuple(values[:20])
    return _distinct(mask(value) for value in source)


def _distinct(masked) -> tuple[str, ...]:
    examples: list[str] = []
    for example in masked:
        if example not in examples:
            examples.append(example)
            if len(examples) == MAX_EXAMPLES:
                break
    return tuple(examples)


def _treatment(category: str) -> str:
    if BY_KEY[category].special:
        return "drop"
    key = category
    while key not in TREATMENTS:
        key = key.rpartition(".")[0]
    return TREATMENTS[key]


def _proposal(column, category, confidence, signals, examples) -> ColumnProposal:
    entry = BY_KEY[category]
    treatment = _treatment(category)
    special = f", {SPECIAL_LABELS[entry.special]}" if entry.special else ""
    summary = " ".join(
        [
            f"{entry.name}: {ROLE_LABELS[entry.role].lower()}{special},",
            f"{confidence:.0%} confidence.",
            *(signal.detail for signal in signals),
            f"Suggested treatment: {treatment}.",
        ]
    )
    if not examples and (entry.special or category.startswith(WITHHELD)):
        summary += " Examples are withheld for this kind of data."
    return ColumnProposal(
        column=column,
        category=category,
        role=entry.role,
        special_category=entry.special,
        treatment=treatment,
        confidence=confidence,
        signals=signals,
        examples=examples,
        evidence=_fingerprint(category, entry.role, entry.special, signals),
        summary=summary,
    )


def _nothing_found(column: str, values: list[str]) -> ColumnProposal:
    examined = len(values)
    confidence = round(0.3 + 0.6 * min(examined, 100) / 100, 2)
    plural = "" if examined == 1 else "s"
    return ColumnProposal(
        column=column,
        category=None,
        role=Role.NON_PERSONAL,
        special_category=Special.NONE,
        treatment="keep",
        confidence=confidence,
        signals=(),
        examples=_distinct(masking.shape(value) for value in values[:20]),
        evidence=_fingerprint(None, Role.NON_PERSONAL, Special.NONE, ()),
        summary=f"No personal-data signal in {examined} sampled value{plural}.",
    )


def _fingerprint(category, role, special, signals) -> str:
    """Stable across re-scans of similar samples: match shares are rounded to the nearest 10%,
    so the evidence changes when the picture changes, not when a count moves by one."""
    buckets = sorted([s.name, _bucket(s.matched, s.sampled)] for s in signals)
    payload = {"category": category, "role": role, "special": special, "signals": buckets}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _bucket(matched: int, sampled: int) -> int:
    """The share in tenths, rounded half up, in integers (no float edge cases): -1 for names."""
    return (20 * matched + sampled) // (2 * sampled) if sampled else -1
