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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, time
from decimal import Decimal
from uuid import UUID

from datasets.scanner import masking
from datasets.scanner.column_names import (
    RULES,
    NameMatch,
    match_column_name,
    phrase_rules,
    tokenize,
    word_set,
)
from datasets.scanner.detectors import DETECTORS, Context, ValueDetector
from datasets.scanner.readers import Sample
from datasets.scanner.vocabulary import PLACE_WORDS, colour_words, fold_words, thing_phrases
from datasets.taxonomy import BY_KEY, Role, Special

MAX_VALUES_PER_COLUMN = 500
MAX_EXAMPLES = 3
DECIDING_SHARE = 0.3  # share of values a detector must match to decide the category
SHOWN_SHARE = 0.1  # share of values a detector must match to be listed as a signal
CONTRADICTION_MIN_VALUES = 5  # values needed before "the values do not confirm the name"
NULL_MARKERS = frozenset({"null", "none", "nan", "n/a", "na", "-", "\\n"})
MAX_VALUE_CHARS = 10_000  # detectors look at the start of very long values only

UNCLASSIFIED = ""  # the role of a proposal that needs a person: no category, no role
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


def scan_sample(
    sample: Sample, progress: Callable[[int, int], None] | None = None
) -> list[ColumnProposal]:
    """One proposal per column, in column order. ``progress(done, total)`` is called after
    each column's values are examined (the slow part), then the columns are judged together:
    what the other columns say a row describes decides the columns nothing fired on."""
    token_sets = {column: frozenset(tokenize(column)) for column in sample.columns}
    sample_tokens = Counter(token for tokens in token_sets.values() for token in tokens)
    analysed = []
    for done, column in enumerate(sample.columns, start=1):
        context = Context(token_sets[column], sample_tokens)
        analysed.append(_analyse(column, _values(sample.rows, column), context))
        if progress is not None:
            progress(done, len(sample.columns))
    fold_words.cache_clear()  # the cache holds sample values: keep none after the scan
    rows = _RowContext.of(analysed)
    return [_decide(column, rows) for column in analysed]


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
    total = counts.total()
    # A detector that needs most of the values gives up once too many have failed.
    allowed = total * (1 - detector.min_share) if detector.min_share >= EARLY_EXIT_SHARE else total
    matched, missed, hits = 0, 0, []
    for value, occurrences in counts.items():
        if detector.test(value, hinted):
            matched += occurrences
            if len(hits) < 20:
                hits.append(value)
        else:
            missed += occurrences
            if missed > allowed:
                return _Result(detector, 0, total, ())
    return _Result(detector, matched, total, tuple(hits))


EARLY_EXIT_SHARE = 0.5


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


@dataclass
class _Column:
    """A column examined on its own: its signals and what they alone suggest."""

    column: str
    values: list[str]
    name: NameMatch | None
    results: list[_Result]
    category: str | None  # None: no signal, or a phrase known not to be personal
    confidence: float
    winner: _Result | None
    note: str
    source: str  # "values" | "name" | "supporting" | "not_personal" | "none"
    thing: bool  # the column name says a row is a place, a product or a machine
    placeish: bool  # most values name places or organisations ("Hawley Municipal")
    colours: _Result | None  # values that are all skin colours or all paint colours

    @property
    def vague(self) -> bool:
        """Only an ambiguous word of the column name (``alt``, ``union``) and no value agrees:
        it neither proves that a row is a person nor survives a sample of things."""
        return self.source == "name" and self.confidence < VAGUE_BELOW

    @property
    def weak_rule(self) -> bool:
        return self.source == "name" and self.name.rule.key in WEAK_RULES

    @property
    def person_evidence(self) -> bool:
        """Whether this column shows that a row describes a person. Locations, generic
        ``name`` headers and single given names do not: towns and airports have them too."""
        category = self.category
        if category is None or self.source in ("none", "not_personal"):
            return False
        if category.startswith(WEAK_PERSONAL) or category == "user":
            return False
        if self.source == "supporting" or self.weak_rule or self.vague:
            return False
        if category.startswith("user.name"):
            if self.winner is not None and self.winner.detector.key == "full_name":
                return True
            return self.name is not None and self.name.phrase not in GENERIC_NAME_PHRASES
        return True

    @property
    def weak(self) -> bool:
        """Personal only if the rows are about people: a location, a town, a single name, the sex
        of a penguin or the age of a machine."""
        category = self.category
        if category is None:
            return False
        if category.startswith(WEAK_PERSONAL + ALSO_OF_THINGS):
            return True
        if category in ("user.content.private", "user"):
            return True
        if category.startswith("user.name") or self.weak_rule:
            return not self.person_evidence
        return self.vague


# Categories that describe places as well as people: whether they are personal data depends on
# what a row describes.
WEAK_PERSONAL = ("user.location", "user.contact.address.city", "user.contact.address.state",
                 "user.contact.address.country", "user.contact.address.postal_code",
                 "system")  # fmt: skip
ALSO_OF_THINGS = ("user.demographic.gender", "user.demographic.age_range")
WEAK_RULES = frozenset({"bare_id"})  # rules that name a key of whatever a row describes
GENERIC_NAME_PHRASES = frozenset({("name",), ("names",), ("nom",), ("nombre",), ("nome",),
                                  ("naam",), ("display", "name")})  # fmt: skip
SYSTEM_DATE_WORDS = word_set(
    "created updated modified inserted loaded ingested processed logged timestamp ts etl "
    "synced imported exported deleted published"
)
VAGUE_BELOW = 0.5  # a column-name confidence below this is an ambiguous word alone
DOMAIN_SHARE = 0.15  # share of columns a domain needs before it explains the other columns


@dataclass(frozen=True)
class _RowContext:
    """What the columns together say a row describes."""

    kind: str  # "people" | "things" | "mixed" | "unknown"
    people: tuple[str, ...]  # columns that show a person
    things: tuple[str, ...]  # columns that show a place, product or machine
    health: tuple[str, ...]
    financial: tuple[str, ...]
    columns: int

    @classmethod
    def of(cls, columns: list[_Column]) -> _RowContext:
        evidence = [c for c in columns if c.person_evidence]
        people = tuple(c.column for c in evidence)
        things = tuple(c.column for c in columns if c.thing or c.placeish)
        # One column proves people only if it is a direct identifier or its values confirm it:
        # "wages" next to "wheat" and "year" is a statistic, not a person's pay.
        strong = len(evidence) >= 2 or any(
            BY_KEY[c.category].role == Role.DIRECT_IDENTIFIER or c.confidence >= 0.8
            for c in evidence
        )
        if len(things) > len(people):
            kind = "things"
        elif strong:
            kind = "people"
        else:
            kind = "mixed" if people else "unknown"
        health = tuple(
            c.column for c in columns if c.category and BY_KEY[c.category].special == Special.HEALTH
        )
        financial = tuple(
            c.column for c in columns if c.category and c.category.startswith("user.financial")
        )
        return cls(kind, people, things, health, financial, len(columns))

    def domain(self, column: str) -> tuple[str, tuple[str, ...]] | None:
        """A domain (health, then financial) that at least two other columns and a share of
        the sample belong to: in a clinical trial an unnamed measurement is clinical."""
        for category, members in (
            ("user.health_and_medical", self.health),
            ("user.financial", self.financial),
        ):
            others = tuple(m for m in members if m != column)
            if len(others) >= 2 and len(others) / max(self.columns, 1) >= DOMAIN_SHARE:
                return category, others
        return None


def _listed(columns: tuple[str, ...]) -> str:
    shown = ", ".join(f'"{c}"' for c in columns[:3])
    return shown + (f" and {len(columns) - 3} more" if len(columns) > 3 else "")


def _analyse(column: str, values: list[str], context: Context) -> _Column:
    name = match_column_name(column)
    thing = _names_a_thing(context.tokens) and not (name and name.rule.special)
    counts = Counter(values)  # insertion-ordered: examples keep the sample's order
    results = [_run(d, counts, context) for d in DETECTORS if d.applies(context)] if values else []
    specific_header = (
        name is not None
        and not name.rule.category.startswith("system")
        and name.rule.key not in WEAK_RULES
        and name.phrase not in GENERIC_NAME_PHRASES
    )
    deciding = [r for r in results if _decides(r, len(counts))]
    decisive = [
        r
        for r in deciding
        if r.detector.overrides_name
        and not (r.detector.specific_header_wins and specific_header)
        and not (r.detector.key == "race_ethnicity_terms" and _colours_only(r))
    ]
    supporting = [r for r in deciding if not r.detector.overrides_name]
    winner = max(decisive, key=lambda r: r.share, default=None)  # ties: registry order
    colours = next(
        (r for r in deciding if r.detector.key == "race_ethnicity_terms" and _colours_only(r)),
        None,
    )
    note, source = "", "values"
    placeish = (
        _placeish_share(counts) >= PLACE_SHARE if name is None or not specific_header else False
    )
    if winner is not None:
        category, confidence = winner.detector.category, _value_confidence(winner)
        if name and _agree(name.rule.category, category):
            category = _deeper(name.rule.category, category)
            confidence = _either(confidence, name.confidence)
        elif name:
            note = " The values outweigh the name."
    elif name is not None and _names_no_one(name, results, len(values)):
        # A column called "name" whose values are not people's names: airports, products.
        category, confidence, source = None, 0.0, "none"
        note = (
            f' The column is called "{column}", but fewer than one in five of '
            f"{len(values)} values look like people's names."
        )
    elif name is not None:
        category, confidence, source = name.rule.category, name.confidence, "name"
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
            note = " The values do not confirm it, so the broader category is proposed."
    elif supporting:
        winner = max(supporting, key=lambda r: (r.share, r.detector.weight))
        category, confidence, source = (
            winner.detector.category,
            _value_confidence(winner),
            "supporting",
        )
    elif _names_not_personal(column):
        category, confidence, source = None, NOT_PERSONAL_CONFIDENCE, "not_personal"
    else:
        category, confidence, source = None, 0.0, "none"
    return _Column(column, values, name, results, category, confidence, winner, note, source,
                   thing, placeish, colours)  # fmt: skip


PLACE_SHARE = 0.3  # share of distinct text values naming a place that makes a column "places"
NOT_PERSONAL_CONFIDENCE = 0.6
CONTEXT_CONFIDENCE = 0.55  # a proposal that rests on the other columns alone
UNCLASSIFIED_CONFIDENCE = 0.1


def _names_no_one(name: NameMatch, results: list[_Result], examined: int) -> bool:
    if name.phrase not in GENERIC_NAME_PHRASES or examined < CONTRADICTION_MIN_VALUES:
        return False
    people = next((r for r in results if r.detector.key == "person_name"), None)
    return people is not None and people.share < NOT_NAMES_BELOW


NOT_NAMES_BELOW = 0.2


def _decides(result: _Result, distinct: int) -> bool:
    detector = result.detector
    if not result.matched or result.share < detector.min_share:
        return False
    return len(set(result.hits)) >= detector.min_distinct


def _colours_only(result: _Result) -> bool:
    """{White, Black} could be skin colours or paint colours: only the other columns tell."""
    colours = colour_words()
    return all(fold_words(hit) in colours for hit in result.hits)


def _placeish_share(counts: Counter[str]) -> float:
    texts = [v for v in counts if any(c.isalpha() for c in v)][:200]
    if len(texts) < 3:
        return 0.0
    places = sum(1 for v in texts if PLACE_WORDS.intersection(fold_words(v)))
    return places / len(texts)


def _names_a_thing(tokens: frozenset[str]) -> bool:
    phrases = thing_phrases()
    return any((t,) in phrases for t in tokens)


def _names_not_personal(column: str) -> bool:
    """``product_name``, ``file_name``: phrases the rules know are not about a person."""
    return any(rule is RULES[0] for _, _, rule, _, _ in phrase_rules(tokenize(column)))


def _decide(col: _Column, rows: _RowContext) -> ColumnProposal:
    """The column's own evidence, read in the light of what the other columns describe."""
    signals = list(_signals(col.column, col.name, col.note, col.results, col.winner))
    category, confidence = col.category, col.confidence
    if col.source == "not_personal":
        detail = f'The column name "{col.column}" names something that is not a person.'
        signals.append(Signal("column_name:not_personal", "column_name", 0, 0, detail))
        return _non_personal(col, confidence, signals)
    if rows.kind == "things" and (col.category is None or col.weak):
        detail = (
            f"Other columns describe places, products or machines ({_listed(rows.things)}) "
            "and none describes a person."
        )
        signals.append(Signal("context:things", "context", 0, 0, detail))
        if col.category == "system.timestamp":
            return _proposal(col.column, category, round(confidence, 2), tuple(signals), ())
        return _non_personal(col, NOT_PERSONAL_CONFIDENCE, signals)
    if rows.kind == "people" and col.colours is not None and (category is None or col.weak):
        detail = (
            f"Other columns describe people ({_listed(rows.people)}), so these colour words "
            "are skin colours."
        )
        signals = [*signals, col.colours.signal(),
                   Signal("context:people", "context", 0, 0, detail)]  # fmt: skip
        category = "user.demographic.race_ethnicity"
        confidence = _either(_value_confidence(col.colours) * 0.6, CONTEXT_CONFIDENCE)
        return _proposal(col.column, category, round(confidence, 2), tuple(signals), ())
    timestamp = category == "system.timestamp" and not (
        SYSTEM_DATE_WORDS & set(tokenize(col.column))
    )
    if rows.kind == "people" and (category is None or timestamp):
        domain = rows.domain(col.column)
        if domain is not None:
            category, members = domain
            detail = (
                f"{len(members)} other columns ({_listed(members)}) hold "
                f"{BY_KEY[category].name.lower()}: this column is probably part of it."
            )
            signals.append(Signal(f"context:{category.split('.')[1]}", "context", 0, 0, detail))
        else:
            category = "user"
            detail = (
                f"Other columns describe people ({_listed(rows.people)}): this column is "
                "probably an attribute of the person."
            )
            signals.append(Signal("context:people", "context", 0, 0, detail))
        confidence = CONTEXT_CONFIDENCE
        return _proposal(col.column, category, confidence, tuple(signals), ())
    if category is None:
        return _unclassified(col, signals)
    examples = _examples(category, col.winner, col.values)
    return _proposal(col.column, category, round(confidence, 2), tuple(signals), examples)


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


def _non_personal(col: _Column, confidence: float, signals: list[Signal]) -> ColumnProposal:
    examined = len(col.values)
    plural = "" if examined == 1 else "s"
    summary = " ".join(
        [
            f"Not personal data, {confidence:.0%} confidence.",
            *(signal.detail for signal in signals),
            f"{examined} value{plural} sampled. Suggested treatment: keep.",
        ]
    )
    return ColumnProposal(
        column=col.column,
        category=None,
        role=Role.NON_PERSONAL,
        special_category=Special.NONE,
        treatment="keep",
        confidence=round(confidence, 2),
        signals=tuple(signals),
        examples=_distinct(masking.shape(value) for value in col.values[:20]),
        evidence=_fingerprint(None, Role.NON_PERSONAL, Special.NONE, signals),
        summary=summary,
    )


def _unclassified(col: _Column, signals: list[Signal]) -> ColumnProposal:
    """Nothing fired: a person has to decide. Never a confident "not personal": a missed race
    column must reach the steward as an open question, not as a settled answer."""
    examined = len(col.values)
    plural = "" if examined == 1 else "s"
    summary = (
        f"Unclassified: needs a person, {UNCLASSIFIED_CONFIDENCE:.0%} confidence. Neither the "
        f"column name nor {examined} sampled value{plural} point to a category, and the other "
        "columns do not show whether a row describes a person."
    )
    return ColumnProposal(
        column=col.column,
        category=None,
        role=UNCLASSIFIED,
        special_category=Special.NONE,
        treatment="",
        confidence=UNCLASSIFIED_CONFIDENCE,
        signals=tuple(signals),
        examples=_distinct(masking.shape(value) for value in col.values[:20]),
        evidence=_fingerprint(None, UNCLASSIFIED, Special.NONE, signals),
        summary=summary,
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
