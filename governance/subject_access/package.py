"""The subject access package (GDPR Art. 15): every row about one subject in every catalogued
store, read through the same connectors retention deletes with (``Connector.read_subject``,
read-only), each dataset with its classification and treatment, retention and the purposes it
serves; the subject's consent history, states and receipts; the purposes and recipients that
applied. A zip: ``subject-access.json`` (everything), ``datasets/<slug>.csv`` (the rows, for
reading, formula-safe) and ``README.txt`` (in plain words, with the subject's rights).

A store is searched only when the dataset names its subject-id field and its retention policy
records that the ids there are of the request's namespace: matching an id of another namespace
could put another person's rows in the package. Datasets that cannot be searched, and stores
that could not be read, are listed with the reason, so the package never claims more than
was read."""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from consent.models import Purpose, Subject
from consent.selectors.subjects import receipt_build, subject_events, subject_states
from datasets.connectors import CONNECTORS, ConnectorError, Layout, connector_for
from datasets.models import Dataset
from governance.access.models import PurposeApproval
from governance.compliance import cells
from governance.registers.models import Recipient, Transfer
from governance.retention.models import RetentionPolicy

MSG_NO_SUBJECT_FIELD = (
    "The dataset names no subject-id field, so a subject's rows cannot be found in it."
)
MSG_NO_NAMESPACE = (
    "The dataset has no retention policy, so the namespace of its subject ids is not "
    "recorded: its rows cannot be matched to {subject} safely."
)
MSG_NO_CONNECTOR = "The registry cannot read a store of kind {kind!r}."
MSG_NO_LOCATION = "The dataset has no location."


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return "base64:" + base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _classification(dataset: Dataset) -> dict[str, dict]:
    return {
        f.name: {
            "category": f"{f.category.name} ({f.category.key})" if f.category else None,
            "role": f.role,
            "special_category": f.special_category,
            "treatment": f.treatment,
        }
        for f in dataset.fields.select_related("category").order_by("name")
    }


def _retention(policy: RetentionPolicy) -> dict:
    return {
        "action": policy.action,
        "max_age_days": policy.max_age_days,
        "grace_days": policy.grace_days,
        "expires_on": policy.expires_on,
        "enabled": policy.enabled,
    }


def read_stores(namespace: str, external_id: str, *, limit: int) -> dict:
    """Every catalogued store's rows about the subject: {"datasets", "searched",
    "not_searched", "failed"}."""
    subject = f"{namespace}:{external_id}"
    policies = {p.dataset_id: p for p in RetentionPolicy.objects.all()}
    approvals: dict[int, list[str]] = {}
    for dataset_id, slug in PurposeApproval.objects.filter(revoked_at__isnull=True).values_list(
        "dataset_id", "purpose_slug"
    ):
        approvals.setdefault(dataset_id, []).append(slug)
    found, searched, not_searched, failed = [], [], [], []
    for dataset in Dataset.objects.exclude(status=Dataset.Status.RETIRED).order_by("slug"):
        policy = policies.get(dataset.pk)
        reason = None
        if not dataset.subject_id_field:
            reason = MSG_NO_SUBJECT_FIELD
        elif policy is None:
            reason = MSG_NO_NAMESPACE.format(subject=subject)
        elif policy.subject_namespace != namespace:
            continue  # its subjects are of another namespace: nothing there is about them
        elif dataset.storage_kind not in CONNECTORS:
            reason = MSG_NO_CONNECTOR.format(kind=dataset.storage_kind)
        elif not dataset.location:
            reason = MSG_NO_LOCATION
        if reason:
            not_searched.append({"dataset": dataset.slug, "reason": reason})
            continue
        rows, sources = [], set()
        try:
            connector = connector_for(
                storage_kind=dataset.storage_kind,
                location=dataset.location,
                layout=Layout(
                    subject_field=dataset.subject_id_field,
                    event_time_field=dataset.event_time_field,
                ),
                options={"connection": dataset.connection},
            )
            try:
                for where, row in connector.read_subject(frozenset({external_id}), limit=limit + 1):
                    rows.append(_jsonable(row))
                    sources.add(where)
            finally:
                connector.close()
        except ConnectorError as error:
            failed.append({"dataset": dataset.slug, "code": error.code, "reason": error.message})
            continue
        searched.append(dataset.slug)
        if not rows:
            continue
        found.append(
            {
                "dataset": dataset.slug,
                "name": dataset.name,
                "sensitivity": dataset.sensitivity,
                "storage_kind": dataset.storage_kind,
                "sources": sorted(sources),
                "classification": _classification(dataset),
                "retention": _retention(policy),
                "purposes": sorted(approvals.get(dataset.pk, [])),
                "rows": rows[:limit],
                "truncated": len(rows) > limit,
            }
        )
    return {"datasets": found, "searched": searched, "not_searched": not_searched, "failed": failed}


def _recipients(purpose: Purpose) -> list[str]:
    names = list(purpose.recipients or [])
    for recipient in Recipient.objects.filter(active=True, purposes__slug=purpose.slug).distinct():
        names.append(f"{recipient.name} ({recipient.role_phrase}, {recipient.country})")
    return names


def _transfers(purpose: Purpose) -> list[str]:
    return [
        f"{t.country} ({t.get_safeguard_display()})"
        for t in Transfer.objects.filter(purposes__slug=purpose.slug).distinct()
    ]


def _consent(namespace: str, external_id: str) -> tuple[dict, set[str]]:
    subject = Subject.objects.filter(namespace=namespace, external_id=external_id).first()
    if subject is None:
        return {"history": [], "states": [], "receipts": []}, set()
    events = list(subject_events(subject=subject))
    states = subject_states(subject=subject)
    history = [
        {
            "purpose": e.purpose.slug,
            "purpose_version": e.purpose.version,
            "status": e.status,
            "occurred_at": e.occurred_at,
            "recorded_at": e.recorded_at,
            "collection_method": e.collection_method,
            "notice_version": e.notice.version if e.notice else None,
            "expires_at": e.expires_at,
            "valid_until": e.valid_until,
        }
        for e in events
    ]
    state_docs = [
        {
            "purpose": s.purpose.slug,
            "purpose_version": s.purpose.version,
            "status": s.status,
            "since": s.occurred_at,
            "valid_until": s.valid_until,
        }
        for s in states
    ]
    receipts = [receipt_build(subject=subject, purpose=s.purpose) for s in states]
    return (
        {"history": history, "states": state_docs, "receipts": receipts},
        {s.purpose.slug for s in states},
    )


def _purposes(slugs: Iterable[str]) -> list[dict]:
    documents = []
    for slug in sorted(set(slugs)):
        purpose = (
            Purpose.objects.filter(slug=slug, status=Purpose.Status.ACTIVE).first()
            or Purpose.objects.filter(slug=slug).order_by("-version").first()
        )
        if purpose is None:
            continue
        documents.append(
            {
                "slug": purpose.slug,
                "version": purpose.version,
                "name": purpose.name,
                "description": purpose.description,
                "legal_basis": purpose.get_legal_basis_display(),
                "controller": purpose.controller,
                "controller_contact": purpose.controller_contact,
                "retention_days": purpose.retention_days,
                "recipients": _recipients(purpose),
                "transfers": _transfers(purpose),
            }
        )
    return documents


README = """Your personal data held by {controller}

This package answers your request of {received} (reference {reference}) under Article 15 of
the General Data Protection Regulation. It was produced on {generated}.

subject-access.json  everything below, in a machine-readable form
datasets/*.csv       the records about you in each data store, one file per dataset

It lists: every record about you found in our catalogued data stores, with what each field
is and how we protect it; the stores we could not search and why; the purposes we process
your data for, their legal basis, how long we keep it, who receives it and whether it leaves
the European Economic Area; and your consent history with a receipt per purpose.

You have the right to ask us to rectify or erase your data, to restrict or object to its
processing, and to lodge a complaint with a supervisory authority.
"""


def build(request) -> tuple[bytes, dict]:
    """The package's bytes and a summary for the ledger (counts and dataset names only)."""
    limit = int(getattr(settings, "SUBJECT_ACCESS_MAX_ROWS", 10_000))
    stores = read_stores(request.namespace, request.external_id, limit=limit)
    consent, consented = _consent(request.namespace, request.external_id)
    served = {slug for d in stores["datasets"] for slug in d["purposes"]}
    generated = timezone.now()
    report = {
        "format": "governance-subject-access/v1",
        "generated_at": generated,
        "request": {
            "id": request.pk,
            "reference": request.reference,
            "namespace": request.namespace,
            "subject_id": request.external_id,
            "received_on": request.received_on,
            "due_on": request.due_on,
        },
        "datasets": stores["datasets"],
        "searched": stores["searched"],
        "not_searched": stores["not_searched"],
        "failed": stores["failed"],
        "consent": consent,
        "purposes": _purposes(served | consented),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "subject-access.json",
            json.dumps(report, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False).encode(),
        )
        for dataset in stores["datasets"]:
            columns = list(dict.fromkeys(k for row in dataset["rows"] for k in row))
            text = io.StringIO()
            writer = cells.SafeWriter(text)
            writer.writerow(columns)
            for row in dataset["rows"]:
                writer.writerow([_cell(row.get(c)) for c in columns])
            archive.writestr(f"datasets/{dataset['dataset']}.csv", text.getvalue().encode())
        controllers = sorted({p["controller"] for p in report["purposes"] if p["controller"]})
        archive.writestr(
            "README.txt",
            README.format(
                controller=", ".join(controllers) or "the controller",
                received=request.received_on.isoformat(),
                reference=request.reference or request.pk,
                generated=generated.strftime("%Y-%m-%d %H:%M UTC"),
            ),
        )
    summary = {
        "rows": sum(len(d["rows"]) for d in stores["datasets"]),
        "datasets": [d["dataset"] for d in stores["datasets"]],
        "searched": stores["searched"],
        "not_searched": [d["dataset"] for d in stores["not_searched"]],
        "failed": [d["dataset"] for d in stores["failed"]],
        "truncated": [d["dataset"] for d in stores["datasets"] if d["truncated"]],
        "consent_events": len(consent["history"]),
    }
    return buffer.getvalue(), summary


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


__all__ = ["build", "csv", "read_stores"]
