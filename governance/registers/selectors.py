"""Reads of the registers, permission-checked (governance/registers/policy.py), and what the
registers contribute to other apps: dashboard panels, evidence-pack files."""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from datasets.models import Dataset
from governance.accounts.models import User
from governance.policy import require
from governance.registers import policy
from governance.registers.kinds import KINDS
from governance.registers.models import Breach, Dpia, ProcessingRecord


def entries_visible(*, viewer: User, kind: str) -> QuerySet:
    """The entries of register ``kind`` the viewer reads; NotPermitted for people who read
    no register at all."""
    require(policy.may_read(viewer))
    spec = KINDS[kind]
    ids = spec.model.objects.filter(policy.visible_to(viewer, kind)).values("pk")
    return (
        spec.model.objects.filter(pk__in=ids)
        .select_related(*spec.related)
        .prefetch_related(*spec.prefetch)
    )


def processing_records_visible(*, viewer: User) -> QuerySet[ProcessingRecord]:
    require(policy.may_read(viewer))
    return ProcessingRecord.objects.filter(policy.visible_to(viewer, "processing")).select_related(
        "updated_by"
    )


def open_breaches(*, viewer: User) -> list[Breach]:
    return [
        b for b in entries_visible(viewer=viewer, kind="breaches") if b.status == Breach.Status.OPEN
    ]


def dashboard_panels(user: User) -> list[dict]:
    if policy.may_read(user) is not None:
        return []
    now = timezone.now()
    breaches = open_breaches(viewer=user)
    overdue = sum(1 for b in breaches if b.authority_overdue(now))
    reviews = sum(1 for d in entries_visible(viewer=user, kind="dpias") if d.review_overdue)
    return [
        {
            "role": "Registers",
            "stats": [
                ("Open breaches", len(breaches)),
                ("Past the 72-hour deadline", overdue),
                ("DPIA reviews overdue", reviews),
            ],
            "link": ("Registers", reverse("registers:overview")),
        }
    ]


def _json(value) -> bytes:
    return json.dumps(value, cls=DjangoJSONEncoder, indent=2, sort_keys=True).encode()


def _ref(obj) -> str:
    return f"{obj._meta.app_label}.{obj._meta.model_name}:{obj.pk}"


def evidence_files(dataset: Dataset) -> dict[str, dict]:
    """For a dataset's evidence pack: the DPIAs and breaches linked to it."""
    dpias = list(Dpia.objects.filter(datasets=dataset).prefetch_related("purposes", "datasets"))
    breaches = list(Breach.objects.filter(datasets=dataset).prefetch_related("datasets"))
    dpia_docs = [
        dict(zip([h for h, _ in KINDS["dpias"].columns], row, strict=True))
        for row in KINDS["dpias"].rows(dpias)
    ]
    breach_docs = [
        dict(zip([h for h, _ in KINDS["breaches"].columns], row, strict=True))
        for row in KINDS["breaches"].rows(breaches)
    ]
    return {
        "registers/dpias.json": {
            "content": _json(dpia_docs),
            "records": [{"objects": [_ref(d)]} for d in dpias],
        },
        "registers/breaches.json": {
            "content": _json(breach_docs),
            "records": [{"objects": [_ref(b)]} for b in breaches],
        },
    }
