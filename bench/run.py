#!/usr/bin/env python
"""`make bench`: speed and memory figures, written to bench/results/latest.json (and printed).

Benchmarks measure; they do not pass or fail. Targets are stated next to each figure so a
regression is visible when results are compared across commits. Run on an otherwise idle machine.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")

import django  # noqa: E402

django.setup()

RESULTS = ROOT / "bench" / "results"


def timed(fn, repeat: int = 5) -> dict:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return {
        "best_s": round(min(times), 4),
        "median_s": round(statistics.median(times), 4),
        "runs": repeat,
    }


def bench_scanner() -> dict:
    from datasets.scanner import scan_sample
    from tests.datasets.scanner_samples import wide_sample

    sample = wide_sample(1000)
    tracemalloc.start()
    scan_sample(sample)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "name": "scanner: 1,000 rows x 30 columns",
        "target": "< 1 s median",
        **timed(lambda: scan_sample(sample)),
        "peak_mib": round(peak / 2**20, 1),
    }


def bench_ledger_appends() -> dict:
    """Domain-event appends per second, one transaction each, on the configured database."""
    from django.db import connection, transaction

    from governance.audit import services as audit

    count = 500

    def append():
        for i in range(count):
            with transaction.atomic():
                audit.record(action="bench.append", data={"i": i})

    result = timed(append, repeat=3)
    return {
        "name": f"ledger: {count} appends, one transaction each",
        "vendor": connection.vendor,
        "target": "> 500 appends/s",
        "appends_per_s": round(count / result["median_s"]),
        **result,
    }


def bench_ledger_seal() -> dict:
    """Sealing throughput: 5,000 unsealed entries hashed and linked by one seal() call."""
    from django.db import connection

    from governance.audit import chain
    from governance.audit.models import LedgerEntry

    count = 5000
    chain.seal_all()  # start from an empty backlog
    times = []
    for _ in range(3):
        LedgerEntry.objects.bulk_create(
            [
                LedgerEntry(
                    action=LedgerEntry.Action.EVENT,
                    event="bench.seal",
                    additional_data={"i": i, "why": "benchmark"},
                )
                for i in range(count)
            ]
        )
        started = time.perf_counter()
        result = chain.seal(limit=count)
        times.append(time.perf_counter() - started)
        assert result.sealed == count
    median = statistics.median(times)
    return {
        "name": f"ledger: seal {count} entries in one call",
        "vendor": connection.vendor,
        "target": "> 5,000 entries sealed/s",
        "entries_sealed_per_s": round(count / median),
        "best_s": round(min(times), 4),
        "median_s": round(median, 4),
        "runs": len(times),
    }


def main() -> None:
    from django.db import connection
    from django.test.utils import get_runner

    # A throwaway test database, so the benchmark never writes into real data.

    runner = get_runner(django.conf.settings)(verbosity=0, interactive=False)
    old = runner.setup_databases()
    try:
        results = [bench_scanner(), bench_ledger_appends(), bench_ledger_seal()]
    finally:
        runner.teardown_databases(old)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "database": connection.vendor,
        },
        "results": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
