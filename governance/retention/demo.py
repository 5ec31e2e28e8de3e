"""Demo retention data for `manage.py seed_demo`: the demo clickstream as CSV files under the
first RETENTION_FILE_ROOTS folder (monthly partitions, two years of events), a policy on it,
two erasure requests (one the next erasure run carries out, one waiting on a legal hold).
Rows past retention are deleted when someone presses "Run now" or the daily run comes.
Idempotent."""

from __future__ import annotations

import csv
import random
from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from datasets.models import Dataset
from governance.accounts.models import User
from governance.retention import services
from governance.retention.models import RetentionPolicy

COLUMNS = [
    "customer_id",
    "email",
    "event_type",
    "event_time",
    "ip_address",
    "country",
    "amount_eur",
]


def _write_events(folder) -> None:
    rng = random.Random(7)  # noqa: S311 - demo data, not security
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    rows_by_month: dict[str, list[list[str]]] = {}
    for i in range(1200):
        moment = now - timedelta(hours=rng.randrange(0, 24 * 730))
        customer = f"c-{rng.randrange(1, 80):06d}"
        rows_by_month.setdefault(moment.strftime("%Y-%m"), []).append(
            [
                customer,
                f"{customer}@example.com",
                rng.choice(["view", "cart", "purchase"]),
                moment.isoformat().replace("+00:00", "Z"),
                f"192.0.2.{rng.randrange(1, 254)}",
                rng.choice(["DE", "FR", "NL", "AT"]),
                f"{rng.uniform(5, 200):.2f}" if i % 3 == 0 else "",
            ]
        )
    for month, rows in rows_by_month.items():
        part = folder / f"month={month}"
        part.mkdir(parents=True, exist_ok=True)
        with (part / "events.csv").open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(COLUMNS)
            writer.writerows(sorted(rows, key=lambda r: r[3]))


def seed(*, stdout) -> None:
    dataset = Dataset.objects.filter(slug="customer-events").first()
    if dataset is None or RetentionPolicy.objects.filter(dataset=dataset).exists():
        stdout.write("Demo retention: exists" if dataset else "Demo retention: no demo catalog")
        return
    alice = User.objects.get(username="alice")
    petra = User.objects.get(username="petra")
    folder = Path(dataset.location)
    _write_events(folder)
    services.policy_set(dataset=dataset, actor=alice, max_age_days=540, grace_days=7)
    services.erasure_request_create(
        actor=petra,
        namespace=dataset.subject_namespace,
        external_id="c-000042",
        received_on=timezone.now().date() - timedelta(days=20),
        datasets=[dataset],
        reference="DSR-2026-0042",
    )
    # A litigation hold keeps one customer's events; their erasure request waits on it.
    services.hold_place(
        actor=petra,
        namespace=dataset.subject_namespace,
        external_id="c-000007",
        reason="Litigation hold: order dispute, keep all records of this customer.",
        reference="LEGAL-2026-11",
    )
    services.erasure_request_create(
        actor=petra,
        namespace=dataset.subject_namespace,
        external_id="c-000007",
        received_on=timezone.now().date() - timedelta(days=3),
        datasets=[dataset],
        reference="DSR-2026-0051",
    )
    stdout.write(f"Demo retention: policy on customer-events, files under {folder}")
