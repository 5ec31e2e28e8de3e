"""Consent snapshots taken at access decisions, and the namespace a question is about.

An ``allow`` for a consent-based purpose names the subject set a job may use: a snapshot of the
purpose version in force, the dataset's subject namespace and one moment (``as_of`` =
``known_at``, at or below the watermark of consent writes in flight, so the set can no longer
change). Taking it costs the check no scan of the purpose's subjects:

- the latest decision snapshot of the same purpose version and namespace is reused while the
  answer provably has not changed since it (``history.answer_unchanged``: no event recorded
  since, no consent ran out since; two index probes);
- otherwise one row is inserted. Its ``count`` and ``sha256`` are a function of the question,
  computed later, by whoever reads the whole set (``export_lines`` seals it), never on the
  check's path.

See docs/adr/0011-training-jobs-snapshots-budgets-keys.md.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from consent.identifiers import DEFAULT_NAMESPACE, namespace_problem
from consent.models import ConsentSnapshot, Purpose
from consent.policy import purpose_in_force
from consent.selectors import history
from consent.services.event_checks import CLOCK_SKEW
from governance.errors import ApplicationError, NotFound

ALL_NAMESPACES = "*"
# The app's clock against the database's: reuse up to a moment safely past both.
REUSE_MARGIN = timedelta(seconds=1)
_NAMESPACES_SHOWN = 20

MSG_NAMESPACE_AMBIGUOUS = (
    "Subjects live in several namespaces ({known}); name one (the check's "
    "obligations.consent_filter.namespace), or ask at the decision's snapshot."
)
MSG_NAMESPACE_AMBIGUOUS_EXPORT = (
    "Subjects live in several namespaces ({known}); name one (the check's "
    "obligations.consent_filter.namespace), ask at the decision's snapshot, or pass "
    "namespace=* to export every namespace."
)
MSG_SNAPSHOT_UNKNOWN = "There is no consent snapshot with this id."
MSG_SNAPSHOT_CONFLICT = (
    "The snapshot fixes {field}; leave it out or give the snapshot's value ({value})."
)
MSG_SNAPSHOT_NO_NAMESPACE = (
    "This snapshot covers every namespace; a filter needs one namespace. Name it."
)


def question_namespace(namespace: str | None, *, export: bool = False) -> str:
    """The namespace a filter or export without a snapshot is about. Given: checked and used
    (``*`` exports every namespace, stored as ""). Left out: the registry's only namespace
    when it has one (or none yet), else a 400 naming them — a filter that silently fell back
    to ``default`` answered "0 subjects" for a job whose subjects live elsewhere."""
    if namespace:
        if export and namespace == ALL_NAMESPACES:
            return ""
        if problem := namespace_problem(namespace):
            raise ApplicationError(problem, {"field": "namespace"})
        return namespace
    known = history.namespaces(limit=_NAMESPACES_SHOWN + 1)
    if len(known) <= 1:
        return known[0] if known else DEFAULT_NAMESPACE
    shown = ", ".join(known[:_NAMESPACES_SHOWN]) + (", …" if len(known) > _NAMESPACES_SHOWN else "")
    message = MSG_NAMESPACE_AMBIGUOUS_EXPORT if export else MSG_NAMESPACE_AMBIGUOUS
    raise ApplicationError(
        message.format(known=shown), {"field": "namespace", "namespaces": known[:_NAMESPACES_SHOWN]}
    )


def snapshot_basis(snapshot_id, *, purpose: str, namespace: str | None, as_of, known_at):
    """The snapshot a filter or export asks at, checked against what else the request says:
    the snapshot fixes the purpose version, the namespace, ``as_of`` and ``known_at``; a
    request that gives another value for one of them is a 400 naming it."""
    snapshot = ConsentSnapshot.objects.select_related("purpose").filter(pk=snapshot_id).first()
    if snapshot is None:
        raise NotFound(MSG_SNAPSHOT_UNKNOWN, {"field": "snapshot"})
    fixed = {
        "purpose": (purpose, snapshot.purpose.slug),
        "namespace": (namespace, snapshot.namespace or ALL_NAMESPACES),
        "as_of": (as_of, snapshot.as_of),
        "known_at": (known_at, snapshot.known_at),
    }
    for field, (given, value) in fixed.items():
        if given not in (None, "") and given != value:
            shown = value.isoformat() if hasattr(value, "isoformat") else value
            raise ApplicationError(
                MSG_SNAPSHOT_CONFLICT.format(field=field, value=shown), {"field": field}
            )
    return snapshot


def decision_snapshot(*, purpose: Purpose, namespace: str) -> ConsentSnapshot:
    """The snapshot an access decision names (call inside the check's transaction).

    ``purpose`` is the version in use now (``purpose_current``); the version in force at the
    snapshot's moment is used, which differs only in the instant after an activation.

    Reusing costs one statement; a new snapshot the watermark (two) and one insert."""
    now = timezone.now()
    if purpose.in_force_at(now):
        reused = history.reusable_decision_snapshot(
            purpose=purpose, namespace=namespace, until=now + REUSE_MARGIN, skew=CLOCK_SKEW
        )
        if reused is not None:
            return reused
    moment = history.known_watermark() or now
    if not purpose.in_force_at(moment):
        purpose = purpose_in_force(slug=purpose.slug, at=moment)
    return ConsentSnapshot.objects.create(
        kind=ConsentSnapshot.Kind.DECISION,
        purpose=purpose,
        namespace=namespace,
        as_of=moment,
        known_at=moment,
        created_by=None,  # shared by every decision that reuses it
    )


def snapshot_summary(snapshot: ConsentSnapshot) -> dict:
    """What a decision says about its snapshot (count and sha256 once sealed, else null)."""
    return {
        "id": str(snapshot.pk),
        "purpose_version": snapshot.purpose.version,
        "as_of": snapshot.as_of.isoformat().replace("+00:00", "Z"),
        "known_at": snapshot.known_at.isoformat().replace("+00:00", "Z"),
        "count": snapshot.count if snapshot.completed_at else None,
        "sha256": snapshot.sha256 if snapshot.completed_at else None,
    }
