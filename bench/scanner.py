"""The scanner's figures (issue 15), measured beside the scanner before issue 15 in the same run
(bench/run.py calls ``bench_scanner`` once Django is set up)."""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# The scanner as it was before issue 15 (measured beside today's, in the same run, so the
# "no more than 2x slower" budget of the issue is checked on the same machine and load).
SCANNER_BASELINE_COMMIT = "abd67af"
_SCANNER_FILES = ("__init__", "column_names", "detectors", "engine", "masking", "readers")


def _baseline_scanner():
    """The baseline scanner package, read from git history, or None outside a git checkout."""
    import importlib
    import subprocess
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="scanner-baseline-"))
    package = folder / "baseline_scanner"
    package.mkdir()
    paths = [f"datasets/scanner/{name}.py" for name in _SCANNER_FILES] + ["datasets/taxonomy.py"]
    for path in paths:
        shown = subprocess.run(  # noqa: S603 - fixed arguments
            ["git", "-C", str(ROOT), "show", f"{SCANNER_BASELINE_COMMIT}:{path}"],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
        if shown.returncode != 0:
            return None
        text = shown.stdout.replace("datasets.scanner", "baseline_scanner")
        text = text.replace("datasets.taxonomy", "baseline_scanner.taxonomy")
        (package / Path(path).name).write_text(text)
    sys.path.insert(0, str(folder))
    return importlib.import_module("baseline_scanner")


def _per_thousand_cells(seconds: float, cells: int) -> float:
    return round(seconds / cells * 1000 * 1000, 3)  # milliseconds per 1,000 rows x columns


def _interleaved(functions: dict, repeat: int = 7) -> dict:
    """Median seconds of each function, run in turn so both see the same machine load."""
    times = {name: [] for name in functions}
    for fn in functions.values():
        fn()  # warm-up: vocabularies, name lists, validators
    for _ in range(repeat):
        for name, fn in functions.items():
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def bench_scanner() -> dict:
    from datasets.scanner import SampleSource, evaluate, read_sample, scan_sample
    from tests.datasets.scanner_samples import wide_sample

    sample = wide_sample(1000)
    cells = len(sample.rows) * len(sample.columns)
    corpus = [
        read_sample(
            SampleSource(kind=evaluate.FORMATS[Path(s["file"]).suffix],
                         path=str(evaluate.CORPUS / s["file"])),
            max_rows=1000,
        )
        for s in evaluate.load_sources()
    ]  # fmt: skip
    corpus_cells = sum(len(s.rows) * len(s.columns) for s in corpus)
    tracemalloc.start()
    scan_sample(sample)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    functions = {
        "wide": lambda: scan_sample(sample),
        "corpus": lambda: [scan_sample(s) for s in corpus],
    }
    baseline = _baseline_scanner()
    if baseline is not None:
        functions["wide_baseline"] = lambda: baseline.scan_sample(sample)
        functions["corpus_baseline"] = lambda: [baseline.scan_sample(s) for s in corpus]
    medians = _interleaved(functions)
    result = {
        "name": "scanner: 1,000 rows x 30 columns (tests/datasets/scanner_samples.wide_sample)",
        "target": "< 1 s median; at most 2x the scanner before issue 15 per 1,000 cells",
        "median_s": round(medians["wide"], 4),
        "ms_per_1000_cells": _per_thousand_cells(medians["wide"], cells),
        "corpus": {
            "files": len(corpus),
            "cells": corpus_cells,
            "median_s": round(medians["corpus"], 4),
            "ms_per_1000_cells": _per_thousand_cells(medians["corpus"], corpus_cells),
        },
        "peak_mib": round(peak / 2**20, 1),
    }
    if baseline is not None:
        result["baseline"] = {
            "commit": SCANNER_BASELINE_COMMIT,
            "ms_per_1000_cells": _per_thousand_cells(medians["wide_baseline"], cells),
            "corpus_ms_per_1000_cells": _per_thousand_cells(
                medians["corpus_baseline"], corpus_cells
            ),
        }
        result["slowdown"] = round(medians["wide"] / medians["wide_baseline"], 2)
        result["corpus_slowdown"] = round(medians["corpus"] / medians["corpus_baseline"], 2)
    return result
