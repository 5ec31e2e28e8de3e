"""The evidence pack for one dataset: everything an auditor asks about it, which proves itself.

Every file's records name the objects they describe (``app_label.model:pk``, the ledger's own
way of naming a target); the pack holds every ledger entry about those objects, plus every
entry naming the dataset, each with an inclusion proof against a checkpoint signed for this
export (``audit/``, format ``governance-ledger-proof/v1``). ``pack.json`` lists every file's
SHA-256 and, per record, the ledger entries that back it; its own SHA-256 is written into the
ledger (``compliance.evidence_pack_sealed``) before that checkpoint is signed, so the pack's
manifest is itself proven. ``tools/verify_audit_bundle.py PACK.zip --public-keys KEYS`` checks
all of it on the zip as downloaded (docs/compliance-exports.md).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from consent.models import ConsentSnapshot
from datasets.models import Dataset
from governance.access.models import Alert, Grant, PurposeApproval
from governance.audit import chain
from governance.audit import services as audit
from governance.audit.models import LedgerEntry
from governance.compliance import cells
from governance.compliance.models import Export

PACK_FORMAT = "governance-evidence-pack/v1"
SEALED_EVENT = "compliance.evidence_pack_sealed"


def _json(value) -> bytes:
    return json.dumps(
        value, cls=DjangoJSONEncoder, sort_keys=True, ensure_ascii=False, indent=2
    ).encode("utf-8")


def ref(obj) -> str:
    """How the pack names an object: ``content_type:object_pk`` as in a canonical entry."""
    return f"{obj._meta.app_label}.{obj._meta.model_name}:{obj.pk}"


def _user(user) -> str | None:
    return None if user is None else user.username


def _grant_document(grant: Grant) -> dict:
    request = grant.request
    return {
        "grant": {
            "id": grant.pk,
            "principal_user": _user(grant.principal_user),
            "principal_group": grant.principal_group.name if grant.principal_group else None,
            "purpose": grant.purpose_slug,
            "purpose_version": grant.purpose.version,
            "fields": grant.fields,
            "starts_at": grant.starts_at,
            "expires_at": grant.expires_at,
            "status": grant.state,  # expired the moment expires_at passed
            "direct": grant.direct,
            "direct_reason": grant.direct_reason,
            "granted_by": _user(grant.granted_by),
            "created_at": grant.created_at,
            "revoked_at": grant.revoked_at,
            "revoked_by": _user(grant.revoked_by),
            "revoked_reason": grant.revoked_reason,
            "expired_at": grant.expired_at,
        },
        "request": None
        if request is None
        else {
            "id": request.pk,
            "requester": _user(request.requester),
            "purpose": request.purpose_slug,
            "fields": request.fields,
            "duration_days": request.duration_days,
            "justification": request.justification,
            "status": request.status,
            "created_at": request.created_at,
            "needs_privacy_officer": request.needs_privacy_officer,
            "decision_reason": request.decision_reason,
            "decided_at": request.decided_at,
            "decided_by": _user(request.decided_by),
            "comments": [
                {"author": _user(c.author), "body": c.body, "created_at": c.created_at}
                for c in request.comments.all()
            ],
        },
        "approvals": []
        if request is None
        else [
            {"role": role, "by": _user(by), "at": at}
            for role, by, at in (
                ("steward", request.steward_approved_by, request.steward_approved_at),
                ("privacy_officer", request.privacy_approved_by, request.privacy_approved_at),
            )
            if by is not None
        ],
        "acknowledgements": [
            {
                "user": _user(a.user),
                "terms_version": a.terms_version,
                "terms_sha256": a.terms_sha256,
                "terms_text": a.terms_text,
                "acknowledged_at": a.acknowledged_at,
            }
            for a in grant.acknowledgements.all()
        ],
    }


class Pack:
    """The files of a pack and, per file, its records: each record names the objects it
    describes (``objects``, each of which a backing entry must name), and may add objects
    whose entries back it too (``also``, optionally only some ``events`` of them) or a count
    of matching entries (``count`` with ``match``)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.records: dict[str, list[dict]] = {}

    def add(self, name: str, content: bytes, records: Iterable[dict] = ()) -> None:
        self.files[name] = content
        self.records[name] = list(records)


def _entries_naming(refs: set[str]) -> dict[str, list[tuple[int, str]]]:
    """ref → [(entry id, event)] of every ledger entry whose target is that object."""
    by_type: dict[str, set[str]] = defaultdict(set)
    for item in refs:
        label, _, pk = item.partition(":")
        by_type[label].add(pk)
    found: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for label, pks in by_type.items():
        app_label, _, model = label.partition(".")
        content_type = ContentType.objects.filter(app_label=app_label, model=model).first()
        if content_type is None:
            continue
        for pk, object_pk, event in (
            LedgerEntry.objects.filter(content_type=content_type, object_pk__in=sorted(pks))
            .values_list("pk", "object_pk", "event")
            .order_by("id")
        ):
            found[f"{label}:{object_pk}"].append((pk, event))
    return found


def _resolve(pack: Pack) -> tuple[dict[str, dict], set[int]]:
    """Each file's records with the ids of their backing entries, and every id used."""
    refs = {
        item
        for records in pack.records.values()
        for record in records
        for item in (*record.get("objects", ()), *record.get("also", ()))
    }
    naming = _entries_naming(refs)
    used: set[int] = set()
    manifest: dict[str, dict] = {}
    for name, content in sorted(pack.files.items()):
        records = []
        for record in pack.records.get(name, []):
            if "count" in record:
                ids = sorted(record["entries"])
                records.append({"count": record["count"], "match": record["match"], "entries": ids})
                used.update(ids)
                continue
            ids = {pk for item in record.get("objects", ()) for pk, _ in naming.get(item, [])}
            events = set(record.get("events", ()))
            for item in record.get("also", ()):
                ids |= {pk for pk, event in naming.get(item, []) if not events or event in events}
            entry = {"objects": list(record.get("objects", ())), "entries": sorted(ids)}
            records.append(entry)
            used |= ids
        manifest[name] = {"sha256": hashlib.sha256(content).hexdigest(), "records": records}
    return manifest, used


def _fields(dataset: Dataset) -> list:
    return list(dataset.fields.select_related("category", "classified_by").order_by("name", "id"))


def _dataset_files(pack: Pack, dataset: Dataset) -> None:
    pack.add(
        "dataset.json",
        _json(
            {
                "slug": dataset.slug,
                "name": dataset.name,
                "status": dataset.status,
                "sensitivity": dataset.sensitivity,
                "location": dataset.location,
                "approved_at": dataset.approved_at,
            }
        ),
        [{"objects": [ref(dataset)]}],
    )
    fields = _fields(dataset)
    documents = [
        {
            "name": f.name,
            "data_type": f.data_type,
            "category": None if f.category is None else f.category.key,
            "category_name": None if f.category is None else f.category.name,
            "role": f.role,
            "special_category": f.special_category,
            "treatment": f.treatment,
            "classification_source": f.classification_source,
            "classified_by": _user(f.classified_by),
            "classified_at": f.classified_at,
        }
        for f in fields
    ]
    records = [{"objects": [ref(f)]} for f in fields]
    pack.add("classification.json", _json(documents), records)
    header = list(documents[0].keys()) if documents else ["name"]
    pack.add(
        "classification.csv",
        cells.csv_bytes(
            header, [[("" if v is None else v) for v in d.values()] for d in documents]
        ),
        records,
    )
    reviews = list(
        dataset.reviews.select_related("submitted_by", "decided_by").order_by("version", "id")
    )
    pack.add(
        "reviews.json",
        _json(
            [
                {
                    "version": r.version,
                    "personal_fields_need": r.personal_fields_need,
                    "anonymization": r.anonymization,
                    "access_and_duration": r.access_and_duration,
                    "fields_snapshot": r.fields_snapshot,
                    "submitted_by": _user(r.submitted_by),
                    "submitted_at": r.submitted_at,
                    "decision": r.decision,
                    "decided_by": _user(r.decided_by),
                    "decided_at": r.decided_at,
                    "decision_note": r.decision_note,
                }
                for r in reviews
            ]
        ),
        [{"objects": [ref(r)]} for r in reviews],
    )


def _access_files(pack: Pack, dataset: Dataset) -> list[PurposeApproval]:
    approvals = list(
        PurposeApproval.objects.filter(dataset=dataset)
        .select_related("purpose", "approved_by", "revoked_by")
        .order_by("approved_at", "id")
    )
    pack.add(
        "purpose-approvals.json",
        _json(
            [
                {
                    "id": a.pk,
                    "purpose": a.purpose_slug,
                    "purpose_version": a.purpose.version,
                    "note": a.note,
                    "approved_by": _user(a.approved_by),
                    "approved_at": a.approved_at,
                    "revoked_at": a.revoked_at,
                    "revoked_by": _user(a.revoked_by),
                    "revoked_reason": a.revoked_reason,
                }
                for a in approvals
            ]
        ),
        [{"objects": [ref(a)]} for a in approvals],
    )
    grants = list(
        Grant.objects.filter(dataset=dataset)
        .select_related(
            "principal_user",
            "principal_group",
            "purpose",
            "granted_by",
            "revoked_by",
            "request__requester",
            "request__steward_approved_by",
            "request__privacy_approved_by",
            "request__decided_by",
        )
        .prefetch_related("acknowledgements__user", "request__comments__author")
        .order_by("created_at", "id")
    )
    pack.add(
        "grants.json",
        _json([_grant_document(g) for g in grants]),
        [
            {
                "objects": [
                    ref(g),
                    *([ref(g.request)] if g.request_id else []),
                    *(ref(a) for a in g.acknowledgements.all()),
                ],
                "also": [ref(c) for c in (g.request.comments.all() if g.request_id else [])],
            }
            for g in grants
        ],
    )
    counts: dict[tuple[str, str], list[int]] = defaultdict(list)
    for pk, data in (
        LedgerEntry.objects.filter(event="access.check", additional_data__dataset=dataset.slug)
        .values_list("pk", "additional_data")
        .order_by("id")
    ):
        counts[(data.get("purpose", ""), data.get("decision", ""))].append(pk)
    pack.add(
        "decision-counts.csv",
        cells.csv_bytes(
            ["purpose", "decision", "count"],
            [[p, d, len(ids)] for (p, d), ids in sorted(counts.items())],
        ),
        [
            {
                "count": len(ids),
                "match": {
                    "event": "access.check",
                    "dataset": dataset.slug,
                    "purpose": p,
                    "decision": d,
                },
                "entries": ids,
            }
            for (p, d), ids in sorted(counts.items())
        ],
    )
    alerts = list(
        Alert.objects.filter(Q(dataset=dataset.slug) | Q(details__datasets__has_key=dataset.slug))
        .select_related("acknowledged_by")
        .order_by("created_at", "id")
    )
    pack.add(
        "alerts.json",
        _json(
            [
                {
                    "id": a.pk,
                    "rule": a.rule,
                    "principal": a.principal,
                    "dataset": a.dataset,
                    "severity": a.severity,
                    "summary": a.summary,
                    "window_start": a.window_start,
                    "window_end": a.window_end,
                    "acknowledged_by": _user(a.acknowledged_by),
                    "acknowledged_at": a.acknowledged_at,
                    "outcome": a.outcome,
                    "outcome_note": a.outcome_note,
                }
                for a in alerts
            ]
        ),
        [{"objects": [ref(a)]} for a in alerts],
    )
    return approvals


def _consent_files(pack: Pack, approvals: list[PurposeApproval]) -> None:
    purpose_ids = {a.purpose_id for a in approvals}
    approved_slugs = {a.purpose_slug for a in approvals}
    snapshots = list(
        ConsentSnapshot.objects.filter(
            Q(purpose_id__in=purpose_ids) | Q(purpose__slug__in=approved_slugs)
        )
        .select_related("purpose", "created_by")
        .order_by("created_at", "id")
    )
    pack.add(
        "consent-snapshots.json",
        _json(
            [
                {
                    "id": str(s.id),
                    "kind": s.kind,
                    "purpose": s.purpose.slug,
                    "purpose_version": s.purpose.version,
                    "namespace": s.namespace,
                    "as_of": s.as_of,
                    "known_at": s.known_at,
                    "count": s.count,
                    "sha256": s.sha256,
                    "created_by": _user(s.created_by),
                    "created_at": s.created_at,
                    "completed_at": s.completed_at,
                }
                for s in snapshots
            ]
        ),
        [{"objects": [ref(s)]} for s in snapshots],
    )


def _contributed_files(pack: Pack, dataset: Dataset) -> None:
    # Other apps add their evidence (retention: policy, holds, erasure requests, runs,
    # certificates; registers: DPIAs, breaches) through ``evidence_pack_files =
    # "module.function"`` on their AppConfig: function(dataset) -> {name: {"content": bytes,
    # "records": [{"objects": [...], "also": [...], "events": [...]}]}} (or plain bytes).
    for app_config in apps.get_app_configs():
        provider = getattr(app_config, "evidence_pack_files", None)
        if not provider:
            continue
        for name, value in import_string(provider)(dataset).items():
            if isinstance(value, dict):
                pack.add(name, value["content"], value.get("records", []))
            else:
                pack.add(name, value)


def _readme(export: Export, dataset: Dataset) -> bytes:
    return (
        f"Evidence pack for dataset {dataset.slug} (export {export.pk}).\n\n"
        "Verify it as downloaded (Python 3.11+ and the cryptography package):\n"
        f"  python tools/verify_audit_bundle.py evidence-pack-{export.pk}-....zip "
        "--public-keys KEYS.json\n"
        "with the checkpoint public keys obtained from the registry out of band.\n\n"
        "pack.json     every file's SHA-256 and, per record, the ledger entries that back it;\n"
        "              its own SHA-256 is in the ledger entry compliance.evidence_pack_sealed.\n"
        "audit/        those ledger entries (entries.jsonl, canonical bytes), the chain links\n"
        "              from the first of them to a checkpoint signed for this export\n"
        "              (chain.jsonl, manifest.json, checkpoints.jsonl), public-keys.json, and\n"
        "              audit-log.csv to read the same entries.\n"
        "retention/    policy, legal holds, erasure requests (reference, subject as SHA-256 of\n"
        "              namespace:id), runs and deletion certificates.\n"
        "See docs/compliance-exports.md for every file.\n"
    ).encode()


def build_evidence_pack(export: Export, path: Path, progress) -> dict:
    from governance.compliance.builders import AUDIT_CSV_COLUMNS, _audit_row, _content_type_labels

    dataset = Dataset.objects.get(pk=export.params["dataset_id"])
    pack = Pack()
    _dataset_files(pack, dataset)
    approvals = _access_files(pack, dataset)
    progress(30)
    _consent_files(pack, approvals)
    _contributed_files(pack, dataset)
    pack.add("README.txt", _readme(export, dataset))
    progress(50)
    manifest, used = _resolve(pack)
    # Every entry naming the dataset or its slug, too: its whole history is in the pack.
    dataset_type = ContentType.objects.get_for_model(Dataset)
    used |= set(
        LedgerEntry.objects.filter(
            Q(content_type=dataset_type, object_pk=str(dataset.pk))
            | Q(additional_data__dataset=dataset.slug)
        ).values_list("pk", flat=True)
    )
    document = {
        "format": PACK_FORMAT,
        "export": export.pk,
        "dataset": dataset.slug,
        "generated_at": chain.format_time(timezone.now()),
        "files": manifest,
    }
    pack_bytes = _json(document)
    with transaction.atomic():
        sealed = audit.record(
            action=SEALED_EVENT,
            target=export,
            actor=export.requested_by,
            data={
                "export": export.pk,
                "dataset": dataset.slug,
                "pack_sha256": hashlib.sha256(pack_bytes).hexdigest(),
                "files": len(manifest),
                "entries": len(used),
            },
        )
    used.add(sealed.pk)
    # Seal everything committed so far (the entries above included) and sign the checkpoint
    # the proofs are made against.
    chain.seal_all()
    checkpoint = chain.checkpoint_write(note=f"export {export.pk}")
    progress(70)
    proof = chain.proof_bundle_files(used, checkpoint)
    labels = _content_type_labels()
    entries = LedgerEntry.objects.filter(pk__in=used).order_by("timestamp", "id")
    readable = io.StringIO()
    writer = cells.SafeWriter(readable)
    writer.writerow(AUDIT_CSV_COLUMNS)
    for entry in entries.iterator(chunk_size=2000):
        writer.writerow(_audit_row(entry, labels))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("pack.json", pack_bytes)
        for name, content in sorted(pack.files.items()):
            archive.writestr(name, content)
        for name, content in proof.items():
            archive.writestr(f"audit/{name}", content)
        archive.writestr("audit/audit-log.csv", readable.getvalue().encode("utf-8"))
    progress(95)
    return {"rows": len(used), "files": len(manifest), "checkpoint_size": checkpoint.size}
