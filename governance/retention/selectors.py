"""Reads of the retention app, permission-checked, plus what it contributes to other apps'
pages (dashboard panels, dataset page links, evidence packs)."""

from __future__ import annotations

import json
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Case, Count, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Value, When
from django.urls import reverse
from django.utils import timezone

from datasets.models import Dataset
from governance.accounts.models import User
from governance.errors import NotFound
from governance.policy import require
from governance.retention import policy as rules
from governance.retention.models import (
    DeletionCertificate,
    ErasureRequest,
    ErasureTarget,
    LegalHold,
    RetentionPolicy,
    RetentionRun,
)
from governance.retention.services import subject_sha256

MSG_RUN_NOT_FOUND = "No such retention run."
MSG_HOLDS_FORBIDDEN = rules.MSG_HOLDS_FORBIDDEN
MSG_REQUESTS_FORBIDDEN = rules.MSG_REQUESTS_FORBIDDEN


def datasets_visible(*, viewer: User) -> QuerySet[Dataset]:
    """Datasets whose retention the viewer may see (``policy.visible_to``): all for privacy
    officers, auditors and administrators; the ones they steward for stewards."""
    datasets = Dataset.objects.filter(rules.visible_to(viewer))
    last_run = RetentionRun.objects.filter(dataset=OuterRef("pk")).order_by("-created_at", "-id")
    return (
        datasets.select_related("retention_policy")
        .annotate(
            last_run_id=Subquery(last_run.values("pk")[:1]),
            last_run_status=Subquery(last_run.values("status")[:1]),
            last_run_at=Subquery(last_run.values("created_at")[:1]),
            active_holds=Count(
                "legal_holds",
                filter=Q(legal_holds__released_at__isnull=True, legal_holds__external_id=""),
                distinct=True,
            ),
        )
        .order_by("slug")
    )


def runs_for(*, dataset: Dataset, limit: int = 50) -> list[RetentionRun]:
    return list(
        RetentionRun.objects.filter(dataset=dataset)
        .select_related("requested_by", "certificate")
        .order_by("-created_at", "-id")[:limit]
    )


def run_get_for(*, viewer: User, run_id: int) -> RetentionRun:
    run = (
        RetentionRun.objects.select_related("dataset", "requested_by")
        .prefetch_related(Prefetch("certificate"))
        .filter(pk=run_id)
        .first()
    )
    if run is None or rules.may_view(viewer, run.dataset) is not None:
        raise NotFound(MSG_RUN_NOT_FOUND)
    return run


def certificate_of(run: RetentionRun) -> DeletionCertificate | None:
    return DeletionCertificate.objects.filter(run=run).first()


def holds_visible(*, viewer: User, active_only: bool = False) -> QuerySet[LegalHold]:
    require(rules.may_see_holds(viewer))
    holds = LegalHold.objects.select_related("dataset", "placed_by", "released_by")
    if active_only:
        holds = holds.filter(released_at__isnull=True)
    # Active holds (no release date) first: PostgreSQL sorts NULLs last in ascending order.
    return holds.order_by(F("released_at").asc(nulls_first=True), "-placed_at", "-id")


def erasure_requests_visible(*, viewer: User) -> QuerySet[ErasureRequest]:
    require(rules.may_see_erasure_requests(viewer))
    return (
        ErasureRequest.objects.select_related("created_by", "closed_by")
        .prefetch_related(Prefetch("targets", ErasureTarget.objects.select_related("dataset")))
        # Open requests (the ones with a deadline running) first, not alphabetically by status.
        .order_by(
            Case(When(status=ErasureRequest.Status.OPEN, then=Value(0)), default=Value(1)),
            "due_on",
            "id",
        )
    )


def erasure_request_get_for(*, viewer: User, request_id: int) -> ErasureRequest:
    request = erasure_requests_visible(viewer=viewer).filter(pk=request_id).first()
    if request is None:
        raise NotFound("No such erasure request.")
    return request


def sla_summary(today=None) -> dict:
    today = today or timezone.now().date()
    open_requests = ErasureRequest.objects.filter(status=ErasureRequest.Status.OPEN)
    return {
        "open": open_requests.count(),
        "overdue": open_requests.filter(due_on__lt=today).count(),
        "due_within_7_days": open_requests.filter(
            due_on__gte=today, due_on__lte=today + timedelta(days=7)
        ).count(),
        "next_due": open_requests.order_by("due_on").values_list("due_on", flat=True).first(),
    }


# --- contributions to other apps' pages ---------------------------------------------------------


def dashboard_panels(user: User) -> list[dict]:
    panels = []
    if rules.is_privacy_officer(user) or rules.holds_role(user, "auditor"):
        summary = sla_summary()
        failed = RetentionRun.objects.filter(
            status=RetentionRun.Status.FAILED,
            created_at__gte=timezone.now() - timedelta(days=7),
        ).count()
        requests_url = reverse("retention:requests")
        panels.append(
            {
                "role": "Erasure requests (SLA) and holds",
                "todo": [
                    {
                        "label": "Erasure requests overdue",
                        "count": summary["overdue"],
                        "url": f"{requests_url}?status=open&sort=due",
                        "urgent": summary["overdue"] > 0,
                        "testid": "erasure-overdue",
                    },
                    {
                        "label": "Erasure requests due within 7 days"
                        + (
                            f" (next {summary['next_due']:%Y-%m-%d})" if summary["next_due"] else ""
                        ),
                        "count": summary["due_within_7_days"],
                        "url": f"{requests_url}?status=open&sort=due",
                    },
                    {
                        "label": "Open erasure requests",
                        "count": summary["open"],
                        "url": requests_url,
                    },
                    {
                        "label": "Active legal holds",
                        "count": LegalHold.objects.filter(released_at__isnull=True).count(),
                        "url": reverse("retention:holds") + "?show=active",
                    },
                    {
                        "label": "Failed retention runs, last 7 days",
                        "count": failed,
                        "url": reverse("retention:overview"),
                        "urgent": failed > 0,
                    },
                ],
                "link": ("Retention and erasure", reverse("retention:overview")),
                "testid": "retention-panel",
            }
        )
    return panels


def withdrawal_impact(subject, purpose) -> list[str]:
    """What a withdrawal sets off here (consent's withdrawal page asks): the datasets approved
    for the purpose whose retention policy covers the subject's namespace erase their rows."""
    from governance.access.models import PurposeApproval

    slugs = list(
        PurposeApproval.objects.filter(purpose_slug=purpose.slug, revoked_at=None)
        .filter(
            dataset__retention_policy__enabled=True,
            dataset__retention_policy__subject_namespace=subject.namespace,
        )
        .exclude(dataset__subject_id_field="")
        .order_by("dataset__slug")
        .values_list("dataset__slug", flat=True)
    )
    if not slugs:
        return ["No dataset under a retention policy holds this purpose's data in this namespace."]
    if not purpose.is_consent_based:
        return [
            f"The purpose's legal basis is not consent: {len(slugs)} dataset(s) keep their rows."
        ]
    return [
        f"The hourly erasure run deletes this subject's rows from {len(slugs)} dataset(s): "
        + ", ".join(slugs)
        + " (each with a deletion certificate)."
    ]


def dataset_links(viewer: User, dataset: Dataset) -> list[tuple[str, str]]:
    if rules.may_view(viewer, dataset) is None:
        return [("Retention", reverse("retention:dataset", args=[dataset.slug]))]
    return []


def _json(value) -> bytes:
    return json.dumps(value, cls=DjangoJSONEncoder, indent=2, sort_keys=True).encode()


def _ref(obj) -> str:
    """How the evidence pack names an object: the ledger's ``content_type:object_pk``."""
    return f"{obj._meta.app_label}.{obj._meta.model_name}:{obj.pk}"


def _requested_hashes(request_ids: list[int]) -> dict[int, str]:
    """The subject hash each erasure request was recorded with in the ledger (a closed request
    no longer holds the id it could be recomputed from)."""
    from governance.audit.models import LedgerEntry

    found = {}
    for data in LedgerEntry.objects.filter(
        event="retention.erasure_requested", additional_data__request__in=request_ids
    ).values_list("additional_data", flat=True):
        found[data.get("request")] = data.get("subject_sha256")
    return found


def evidence_files(dataset: Dataset) -> dict[str, dict]:
    """Files for the compliance app's evidence pack: the policy, holds, erasure requests (with
    their reference and subject hashes, never ids), every run, and every deletion certificate
    as issued. Each file comes with its records: the objects whose ledger entries back it
    (the pack includes those entries with their proofs)."""
    policy = RetentionPolicy.objects.filter(dataset=dataset).first()
    policy_doc = None
    policy_records = []
    if policy is not None:
        policy_doc = {
            "max_age_days": policy.max_age_days,
            "grace_days": policy.grace_days,
            "expires_on": policy.expires_on,
            "action": policy.action,
            "connection": dataset.connection,
            "subject_namespace": policy.subject_namespace,
            "enabled": policy.enabled,
            "updated_by": policy.updated_by.username,
            "updated_at": policy.updated_at,
        }
        # retention.policy_set is recorded against the dataset, the diff against the policy.
        policy_records = [{"objects": [_ref(policy)], "also": [_ref(dataset)]}]
    hold_rows = list(
        LegalHold.objects.filter(Q(dataset=dataset) | Q(dataset__isnull=True))
        .select_related("placed_by", "released_by")
        .order_by("placed_at", "id")
    )
    holds = [
        {
            "id": h.pk,
            "scope": "subject" if h.external_id else "dataset",
            "subject_sha256": subject_sha256(h.namespace, h.external_id) if h.external_id else None,
            "reason": h.reason,
            "reference": h.reference,
            "placed_by": h.placed_by.username,
            "placed_at": h.placed_at,
            "released_at": h.released_at,
            "released_by": h.released_by.username if h.released_by_id else None,
            "release_reason": h.release_reason,
        }
        for h in hold_rows
    ]
    targets = list(
        ErasureTarget.objects.filter(dataset=dataset)
        .select_related("request")
        .order_by("request_id")
    )
    hashes = _requested_hashes([t.request_id for t in targets])
    requests = [
        {
            "id": t.request.pk,
            "reference": t.request.reference,
            "subject_sha256": hashes.get(t.request_id)
            or (
                subject_sha256(t.request.namespace, t.request.external_id)
                if t.request.external_id
                else None
            ),
            "received_on": t.request.received_on,
            "due_on": t.request.due_on,
            "extended": t.request.extended,
            "extension_reason": t.request.extension_reason,
            "status": t.request.status,
            "target_status": t.status,
            "run": t.run_id,
            "closed_at": t.request.closed_at,
            "rejection_reason": t.request.rejection_reason,
        }
        for t in targets
    ]
    run_rows = list(RetentionRun.objects.filter(dataset=dataset).order_by("created_at", "id"))
    runs = [
        {
            "id": r.pk,
            "kind": r.kind,
            "trigger": r.trigger,
            "status": r.status,
            "plan": r.plan,
            "rows_deleted": r.rows_deleted,
            "rows_anonymized": r.rows_anonymized,
            "files_deleted": r.files_deleted,
            "subjects_count": r.subjects_count,
            "subjects_sha256": r.subjects_sha256,
            "error_code": r.error_code,
            "error": r.error,
            "created_at": r.created_at,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
        }
        for r in run_rows
    ]
    certificate_rows = list(
        DeletionCertificate.objects.filter(dataset=dataset)
        .select_related("run")
        .order_by("issued_at", "id")
    )
    certificates = b"".join(
        json.dumps(
            {"id": c.pk, "run": c.run_id, "sha256": c.sha256, "document": c.document},
            cls=DjangoJSONEncoder,
            sort_keys=True,
        ).encode()
        + b"\n"
        for c in certificate_rows
    )
    return {
        "retention/policy.json": {"content": _json(policy_doc), "records": policy_records},
        "retention/legal-holds.json": {
            "content": _json(holds),
            "records": [{"objects": [_ref(h)]} for h in hold_rows],
        },
        "retention/erasure-requests.json": {
            "content": _json(requests),
            "records": [{"objects": [_ref(t.request)]} for t in targets],
        },
        "retention/runs.json": {
            "content": _json(runs),
            "records": [{"objects": [_ref(r)]} for r in run_rows],
        },
        "retention/deletion-certificates.jsonl": {
            "content": certificates,
            "records": [{"objects": [_ref(c), _ref(c.run)]} for c in certificate_rows],
        },
    }
