"""Measure the scanner against the hand-labelled corpus in tests/data/scanner_corpus/.

``python -m datasets.scanner.evaluate`` (``make eval-scanner``) reads every corpus file the way
a scan does (``read_sample`` then ``scan_sample``), compares each column's proposal with its
label and prints, per dataset and per group: category accuracy, role accuracy, special-category
recall, direct-identifier precision and recall, the false-positive rate on non-personal columns,
how many columns were left to a person, and the calibration (confidence bucket → how often the
proposed role was right). It exits non-zero when a target of issue 15 is missed on the corpus.

Scoring rules (docs/scanner.md repeats them):

- A proposal left *unclassified* (no category, no role: "needs a person") is wrong for category
  and role, but is not a false positive.
- For a non-personal label, a proposal with no category or a ``system.*`` category is right.
- Special-category recall counts the labels marked ``evident`` (header or values make it plain);
  recall over every special-category label is printed beside it.
- Direct identifiers: a proposal with role ``direct_identifier`` against labels with that role.
- False positives: non-personal labels proposed as direct identifier, quasi-identifier or
  sensitive."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from datasets.scanner.engine import ColumnProposal, scan_sample
from datasets.scanner.readers import SampleSource, read_sample
from datasets.taxonomy import Role

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "data" / "scanner_corpus"
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
BUCKETS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.01))

# Issue 15's targets: (metric, comparison, threshold).
TARGETS = (
    ("role_accuracy", ">=", 0.90),
    ("special_recall_evident", ">=", 1.00),
    ("direct_recall", ">=", 0.95),
    ("direct_precision", ">=", 0.90),
    ("non_personal_fp_rate", "<=", 0.10),
)


@dataclass(frozen=True)
class Label:
    dataset: str
    column: str
    category: str
    role: str
    special: str
    evident: bool


@dataclass(frozen=True)
class Outcome:
    label: Label
    category: str | None
    role: str
    special: str
    confidence: float

    @property
    def category_right(self) -> bool:
        if self.label.role == Role.NON_PERSONAL:
            return self.role == Role.NON_PERSONAL and (
                self.category is None or self.category.startswith("system")
            )
        return self.category == self.label.category

    @property
    def role_right(self) -> bool:
        return self.role == self.label.role

    @property
    def flagged(self) -> bool:
        return self.role in (Role.DIRECT_IDENTIFIER, Role.QUASI_IDENTIFIER, Role.SENSITIVE)


@dataclass
class Scores:
    outcomes: list[Outcome] = field(default_factory=list)

    def _share(self, hits: int, total: int) -> float | None:
        return hits / total if total else None

    def metrics(self) -> dict[str, float | int | None]:
        out = self.outcomes
        special = [o for o in out if o.label.special]
        evident = [o for o in special if o.label.evident]
        direct_true = [o for o in out if o.label.role == Role.DIRECT_IDENTIFIER]
        direct_pred = [o for o in out if o.role == Role.DIRECT_IDENTIFIER]
        non_personal = [o for o in out if o.label.role == Role.NON_PERSONAL]
        return {
            "columns": len(out),
            "category_accuracy": self._share(sum(o.category_right for o in out), len(out)),
            "role_accuracy": self._share(sum(o.role_right for o in out), len(out)),
            "special_recall_evident": self._share(
                sum(o.special == o.label.special for o in evident), len(evident)
            ),
            "special_recall_all": self._share(
                sum(o.special == o.label.special for o in special), len(special)
            ),
            "special_columns": len(special),
            "direct_recall": self._share(
                sum(o.role == Role.DIRECT_IDENTIFIER for o in direct_true), len(direct_true)
            ),
            "direct_precision": self._share(
                sum(o.label.role == Role.DIRECT_IDENTIFIER for o in direct_pred), len(direct_pred)
            ),
            "non_personal_fp_rate": self._share(
                sum(o.flagged for o in non_personal), len(non_personal)
            ),
            "non_personal_columns": len(non_personal),
            "unclassified": sum(not o.role for o in out),
        }

    def calibration(self) -> list[dict]:
        rows = []
        for low, high in BUCKETS:
            inside = [o for o in self.outcomes if low <= o.confidence < high]
            rows.append(
                {
                    "bucket": f"{low:.1f}-{min(high, 1.0):.1f}",
                    "columns": len(inside),
                    "mean_confidence": (
                        sum(o.confidence for o in inside) / len(inside) if inside else None
                    ),
                    "role_accuracy": self._share(sum(o.role_right for o in inside), len(inside)),
                    "category_accuracy": self._share(
                        sum(o.category_right for o in inside), len(inside)
                    ),
                }
            )
        return rows


def load_labels(corpus: Path = CORPUS) -> dict[str, list[Label]]:
    labels: dict[str, list[Label]] = {}
    with (corpus / "labels.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            labels.setdefault(row["dataset"], []).append(
                Label(
                    dataset=row["dataset"],
                    column=row["column"],
                    category=row["category"],
                    role=row["role"],
                    special=row["special_category"],
                    evident=row["evident"] == "yes",
                )
            )
    return labels


def load_sources(corpus: Path = CORPUS) -> list[dict]:
    return json.loads((corpus / "sources.json").read_text(encoding="utf-8"))


def scan_file(path: Path, max_rows: int) -> list[ColumnProposal]:
    sample = read_sample(SampleSource(kind=FORMATS[path.suffix], path=str(path)), max_rows=max_rows)
    return scan_sample(sample)


def evaluate(*, corpus: Path = CORPUS, max_rows: int = 1000) -> list[dict]:
    """One entry per corpus file: its source entry plus the outcome of every labelled column."""
    labels = load_labels(corpus)
    results = []
    for source in load_sources(corpus):
        proposals = {p.column: p for p in scan_file(corpus / source["file"], max_rows)}
        outcomes = []
        for label in labels[source["name"]]:
            proposal = proposals[label.column]
            outcomes.append(
                Outcome(
                    label=label,
                    category=proposal.category,
                    role=proposal.role,
                    special=proposal.special_category,
                    confidence=proposal.confidence,
                )
            )
        results.append({**source, "outcomes": outcomes})
    return results


def groups(results: list[dict]) -> list[tuple[str, Scores]]:
    """The lines of the report after the per-dataset lines."""

    def scores(keep) -> Scores:
        return Scores([o for r in results if keep(r) for o in r["outcomes"]])

    return [
        ("real, tuned", scores(lambda r: r["kind"] == "real" and r["split"] == "tuned")),
        ("real, held out", scores(lambda r: r["kind"] == "real" and r["split"] == "held_out")),
        ("real, fresh hold-out", scores(lambda r: r["split"] == "fresh_hold_out")),
        ("real, all", scores(lambda r: r["kind"] == "real")),
        ("header translations", scores(lambda r: r["kind"] == "translated_headers")),
        ("adversarial", scores(lambda r: r["kind"] == "adversarial")),
        ("tuned, all kinds", scores(lambda r: r["split"] == "tuned")),
        ("held out, all kinds", scores(lambda r: r["split"] != "tuned")),
        ("overall", scores(lambda r: True)),
    ]


def misses(results: list[dict]) -> Iterable[str]:
    for result in results:
        for o in result["outcomes"]:
            if not o.role_right or (o.label.special and o.special != o.label.special):
                yield (
                    f"  {result['name']}.{o.label.column}: label {o.label.category or '-'} "
                    f"({o.label.role}{', ' + o.label.special if o.label.special else ''}), "
                    f"proposed {o.category or '-'} ({o.role or 'unclassified'}"
                    f"{', ' + o.special if o.special else ''}) at {o.confidence:.2f}"
                )


def target_failures(metrics: dict) -> list[str]:
    failures = []
    for name, comparison, threshold in TARGETS:
        value = metrics[name]
        ok = value is None or (value >= threshold if comparison == ">=" else value <= threshold)
        if not ok:
            failures.append(f"{name} {value:.3f} (target {comparison} {threshold:.2f})")
    return failures


def _pct(value) -> str:
    return "   -" if value is None else f"{value * 100:4.0f}"


HEADER = (
    f"{'':28} {'cols':>4} {'cat%':>5} {'role%':>5} {'spec%':>5} {'(all)':>5} "
    f"{'DIr%':>5} {'DIp%':>5} {'FP%':>5} {'todo':>4}"
)


def _line(name: str, metrics: dict) -> str:
    return (
        f"{name:28} {metrics['columns']:4} {_pct(metrics['category_accuracy']):>5} "
        f"{_pct(metrics['role_accuracy']):>5} {_pct(metrics['special_recall_evident']):>5} "
        f"{_pct(metrics['special_recall_all']):>5} {_pct(metrics['direct_recall']):>5} "
        f"{_pct(metrics['direct_precision']):>5} {_pct(metrics['non_personal_fp_rate']):>5} "
        f"{metrics['unclassified']:4}"
    )


def report(results: list[dict], *, show_misses: bool = False) -> tuple[str, list[str]]:
    lines = [
        "Scanner evaluation on tests/data/scanner_corpus (labels written before scanning).",
        "cat/role: accuracy; spec: special-category recall where evident (all: every "
        "special label);",
        "DIr/DIp: direct-identifier recall/precision; FP: non-personal columns flagged "
        "as personal; todo: left to a person.",
        "",
        HEADER,
    ]
    for result in results:
        tag = {"real": "", "translated_headers": " [headers]", "adversarial": " [adv]"}
        split = {"tuned": "", "held_out": " *", "fresh_hold_out": " **"}[result["split"]]
        name = f"{result['name']}{tag[result['kind']]}{split}"
        lines.append(_line(name, Scores(result["outcomes"]).metrics()))
    lines.append("  (* held out: not tuned on; ** fresh hold-out: first scanned after tuning)")
    lines.append("")
    lines.append(HEADER)
    summary = groups(results)
    for name, scores in summary:
        lines.append(_line(name, scores.metrics()))
    overall = dict(summary)["overall"]
    lines += [
        "",
        "Calibration (overall): confidence bucket → columns, mean confidence, observed accuracy",
    ]
    for row in overall.calibration():
        mean = "-" if row["mean_confidence"] is None else f"{row['mean_confidence']:.2f}"
        lines.append(
            f"  {row['bucket']}: {row['columns']:4} columns, mean {mean:>4}, "
            f"role right {_pct(row['role_accuracy']).strip():>3}%, "
            f"category right {_pct(row['category_accuracy']).strip():>3}%"
        )
    failures = target_failures(overall.metrics())
    lines.append("")
    lines.append(
        "Targets (overall): " + ("all met." if not failures else "MISSED: " + "; ".join(failures))
    )
    if show_misses:
        lines += ["", "Columns with a wrong role or special category:", *misses(results)]
    return "\n".join(lines), failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list every wrong column")
    parser.add_argument("--max-rows", type=int, default=1000)
    args = parser.parse_args(argv)
    text, failures = report(evaluate(max_rows=args.max_rows), show_misses=args.misses)
    print(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
