"""Demo catalog for `manage.py seed_demo`: three realistic datasets, one of them approved, one
in review, one a draft with a completed scan waiting for review; and `churn-events`, approved,
over the data of the Python client's example job (clients/python/examples/train_churn.py).
Idempotent."""

from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction

from datasets import services
from datasets.models import DataCategory, Dataset
from governance.accounts.models import User

FIRST = ["Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo", "Ines", "Jonas"]
LAST = ["Schmidt", "Martin", "Rossi", "Novak", "Smith", "Dubois", "Jansen", "Silva"]
CARDS = ["4111111111111111", "5500005555555559", "4012888888881881", "378282246310005"]


def _write_samples(folder) -> dict[str, str]:
    rng = random.Random(42)  # noqa: S311 (synthetic demo data)
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 1, 1)
    events = folder / "customer_events.csv"
    with events.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "customer_id",
                "email",
                "event_type",
                "event_time",
                "ip_address",
                "country",
                "amount_eur",
            ]
        )
        for i in range(200):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            writer.writerow(
                [
                    f"c-{10000 + i}",
                    f"{first}.{last}{i}@example.org".lower(),
                    rng.choice(["view", "add_to_cart", "purchase"]),
                    (start + timedelta(minutes=37 * i)).isoformat(),
                    f"203.0.113.{rng.randint(1, 254)}",
                    rng.choice(["DE", "FR", "NL", "IT"]),
                    f"{rng.uniform(5, 300):.2f}",
                ]
            )
    tickets = folder / "support_tickets.jsonl"
    with tickets.open("w") as out:
        for i in range(120):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            out.write(
                json.dumps(
                    {
                        "ticket_id": 5000 + i,
                        "customer_email": f"{first}.{last}@example.com".lower(),
                        "phone": f"+49 30 {rng.randint(1000000, 9999999)}",
                        "message": f"Hello, my order {rng.randint(100, 999)} arrived damaged, "
                        f"please call me back. Regards, {first} {last}",
                        "card_number": rng.choice(CARDS),
                        "created_at": (start + timedelta(hours=5 * i)).isoformat(),
                        "priority": rng.choice(["low", "normal", "high"]),
                    }
                )
                + "\n"
            )
    survey = folder / "health_survey.csv"
    with survey.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "respondent_id",
                "date_of_birth",
                "postcode",
                "ethnicity",
                "diagnosis",
                "smoker",
                "bmi",
                "year",
            ]
        )
        for i in range(150):
            dob = datetime(1950, 1, 1) + timedelta(days=rng.randint(0, 20000))
            writer.writerow(
                [
                    f"r-{i:05d}",
                    dob.date().isoformat(),
                    f"{rng.randint(10000, 99999)}",
                    rng.choice(["White", "Black", "Asian", "Mixed", "Other"]),
                    rng.choice(["E11.9", "I10", "J45.909", "none"]),
                    rng.choice(["yes", "no"]),
                    f"{rng.uniform(17, 38):.1f}",
                    rng.choice(range(2015, 2026)),
                ]
            )
    return {"events": str(events), "tickets": str(tickets), "survey": str(survey)}


def _classify(dataset, actor, spec: dict[str, tuple]) -> None:
    categories = {c.key: c for c in DataCategory.objects.all()}
    existing = {f.name: f for f in dataset.fields.all()}
    for name, (data_type, key, role, special, treatment) in spec.items():
        field = existing.get(name) or services.field_create(
            actor=actor, dataset=dataset, name=name, data_type=data_type
        )
        services.field_classify(
            actor=actor,
            field=field,
            category=categories.get(key),
            role=role,
            special_category=special,
            treatment=treatment,
        )


# The example job's data and its classification (as in tests/client/test_training_job_live.py):
# name -> (data type, category, role, special category, treatment).
CHURN_DATA = Path(settings.BASE_DIR) / "clients" / "python" / "examples" / "data" / "churn.csv"
CHURN_FIELDS = {
    "customer_id": ("string", "user.unique_id.pseudonymous", "quasi_identifier", "", "keep"),
    "email": ("string", "user.contact.email", "direct_identifier", "", "pseudonymize"),
    "phone": ("string", "user.contact.phone_number", "direct_identifier", "", "drop"),
    "age": ("integer", "user.demographic.age_range", "quasi_identifier", "", "generalize"),
    "country": ("string", "user.contact.address.country", "quasi_identifier", "", "keep"),
    "tenure_months": ("integer", "user.behavior.purchase_history", "non_personal", "", "keep"),
    "monthly_spend": ("number", "user.behavior.purchase_history", "non_personal", "", "keep"),
    "support_calls": ("integer", "user.behavior", "non_personal", "", "keep"),
    "support_notes": ("string", "user.content.private", "sensitive", "", "mask"),
    "event_time": ("timestamp", None, "non_personal", "", "keep"),
    "churned": ("integer", None, "non_personal", "", "keep"),
}


@transaction.atomic
def seed(*, stdout) -> None:
    _seed_catalog(stdout=stdout)
    _seed_churn_events(stdout=stdout)


def _seed_churn_events(*, stdout) -> None:
    if Dataset.objects.filter(slug="churn-events").exists():
        stdout.write("Demo catalog: churn-events exists")
        return
    alice = User.objects.get(username="alice")
    petra = User.objects.get(username="petra")
    dataset = services.dataset_create(
        actor=alice,
        slug="churn-events",
        name="Churn events",
        description="One row per shop customer: tenure, spend, support contacts and whether "
        "they left. The data of the Python client's example training job.",
        storage_kind="csv",
        location=str(CHURN_DATA),
        subject_id_field="customer_id",
        subject_namespace="shop",
        event_time_field="event_time",
        tags=["shop", "churn", "example"],
    )
    _classify(dataset, alice, CHURN_FIELDS)
    services.dataset_submit(
        actor=alice,
        dataset=dataset,
        personal_fields_need="customer_id filters the rows by consent; age, tenure, spend and "
        "support calls are the model's features.",
        anonymization="Email pseudonymized per purpose, phone dropped, age generalized to "
        "decades, support notes masked; the model sees only differentially private statistics.",
        access_and_duration="The churn-training service account, 30 days per grant.",
    )
    services.dataset_approve(actor=petra, dataset=dataset, note="Obligations as described.")
    stdout.write("Demo catalog: churn-events (approved; the example job's data)")


def _seed_catalog(*, stdout) -> None:
    if Dataset.objects.filter(
        slug__in=["customer-events", "support-tickets", "health-survey"]
    ).exists():
        stdout.write("Demo catalog: exists")
        return
    alice = User.objects.get(username="alice")
    petra = User.objects.get(username="petra")
    samples = _write_samples(settings.SCANNER_FILE_ROOTS[0] / "demo")

    events = services.dataset_create(
        actor=alice,
        slug="customer-events",
        name="Customer events",
        description="Web shop clickstream and purchases, one row per event.",
        storage_kind="csv",
        # Partitioned CSV files under the first RETENTION_FILE_ROOTS folder (the retention
        # demo writes them), so that runs and previews really read and delete there.
        location=str(settings.RETENTION_FILE_ROOTS[0] / "customer-events"),
        subject_id_field="customer_id",
        subject_namespace="shop",
        event_time_field="event_time",
        tags=["shop", "clickstream"],
    )
    _classify(
        events,
        alice,
        {
            "customer_id": (
                "string",
                "user.unique_id.pseudonymous",
                "quasi_identifier",
                "",
                "keep",
            ),
            "email": ("string", "user.contact.email", "direct_identifier", "", "drop"),
            "event_type": ("string", None, "non_personal", "", "keep"),
            "event_time": ("timestamp", "system.timestamp", "non_personal", "", "keep"),
            "ip_address": ("string", "user.device.ip_address", "direct_identifier", "", "mask"),
            "country": ("string", "user.contact.address.country", "quasi_identifier", "", "keep"),
            "amount_eur": (
                "number",
                "user.behavior.purchase_history",
                "quasi_identifier",
                "",
                "generalize",
            ),
        },
    )
    services.dataset_submit(
        actor=alice,
        dataset=events,
        personal_fields_need="customer_id links events of one customer for churn features; "
        "country and amount are model features. Email and IP are not needed and are dropped "
        "or masked before training.",
        anonymization="customer_id is already a pseudonym; email is dropped, IP masked to /24.",
        access_and_duration="The churn team's training jobs, for 90 days per grant.",
    )
    services.dataset_approve(actor=petra, dataset=events, note="Minimised as described.")

    tickets = services.dataset_create(
        actor=alice,
        slug="support-tickets",
        name="Support tickets",
        description="Customer support tickets with free-text messages.",
        storage_kind="jsonl",
        location="file:///data/support/tickets.jsonl",
        subject_id_field="customer_email",
        event_time_field="created_at",
        tags=["support", "nlp"],
    )
    _classify(
        tickets,
        alice,
        {
            "ticket_id": ("integer", None, "non_personal", "", "keep"),
            "customer_email": (
                "string",
                "user.contact.email",
                "direct_identifier",
                "",
                "pseudonymize",
            ),
            "phone": ("string", "user.contact.phone_number", "direct_identifier", "", "drop"),
            "message": ("string", "user.content.private", "sensitive", "", "mask"),
            "card_number": (
                "string",
                "user.financial.credit_card",
                "direct_identifier",
                "",
                "drop",
            ),
            "created_at": ("timestamp", "system.timestamp", "non_personal", "", "keep"),
            "priority": ("string", None, "non_personal", "", "keep"),
        },
    )
    services.dataset_submit(
        actor=alice,
        dataset=tickets,
        personal_fields_need="Messages train the ticket router; the email pseudonym groups "
        "tickets per customer.",
        anonymization="Names and numbers in messages are masked by the NER pipeline; card "
        "numbers and phones are dropped.",
        access_and_duration="Support-NLP team, 30 days.",
    )

    survey = services.dataset_create(
        actor=alice,
        slug="health-survey",
        name="Health survey",
        description="Answers to the 2025 wellbeing survey (special categories).",
        storage_kind="postgres_table",
        location="research.health_survey",
        subject_id_field="respondent_id",
        tags=["research", "health"],
    )
    scan = services.scan_start(actor=alice, dataset=survey, path=samples["survey"])
    services.scan_run(scan_id=scan.pk)
    stdout.write(
        "Demo catalog: customer-events (approved), support-tickets (in review), "
        "health-survey (draft, scanned, suggestions to review)"
    )
