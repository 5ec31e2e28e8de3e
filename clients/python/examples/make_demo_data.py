"""Writes data/churn.csv: 600 synthetic customers of a shop (no real person), deterministic.

python make_demo_data.py
"""

from __future__ import annotations

import csv
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROWS = 600
START = datetime(2026, 9, 1, tzinfo=UTC)
COUNTRIES = ["DE", "FR", "NL", "ES", "IT"]


def main(path: Path = Path(__file__).parent / "data" / "churn.csv") -> Path:
    rng = random.Random(16)  # noqa: S311 - synthetic data, not security
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "customer_id",
                "email",
                "phone",
                "age",
                "country",
                "tenure_months",
                "monthly_spend",
                "support_calls",
                "support_notes",
                "event_time",
                "churned",
            ]
        )
        for i in range(ROWS):
            age = rng.randint(18, 80)
            tenure = rng.randint(1, 72)
            spend = round(rng.uniform(5, 120), 2)
            calls = rng.randint(0, 9)
            risk = 1.2 * calls / 9 - 1.5 * tenure / 72 - 0.6 * spend / 120 + rng.gauss(0, 0.35)
            churned = int(1 / (1 + math.exp(-4 * risk)) > 0.5)
            when = START + timedelta(minutes=rng.randint(0, 60 * 24 * 90))
            writer.writerow(
                [
                    f"c-{i:04d}",
                    f"customer{i:04d}@example.org",
                    f"+49 30 {rng.randint(1000000, 9999999)}",
                    age,
                    rng.choice(COUNTRIES),
                    tenure,
                    spend,
                    calls,
                    "called about billing" if calls > 4 else "",
                    when.isoformat().replace("+00:00", "Z"),
                    churned,
                ]
            )
    return path


if __name__ == "__main__":
    print(main())
