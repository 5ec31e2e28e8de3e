"""Recording consent events: one, a batch, or a withdrawal (the same shape as giving).

The history is append-only; the current state per (subject, purpose) is derived in the same
transaction. Concurrent events for one subject are serialised by a row lock on the subject,
taken in primary-key order (so two batches never deadlock), before the state is read: no
update is lost. The state keeps the event with the latest ``occurred_at`` and, on a tie, the
one recorded last, so a late-arriving older event never resurrects a withdrawn consent. Those
are the same rules the history queries apply (``ORDER BY occurred_at DESC, id DESC``).

A batch is all-or-nothing: every item is checked first, all problems are reported by index,
and nothing is written unless every item is acceptable.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from consent import policy, signals
from consent.identifiers import DEFAULT_NAMESPACE, add_months
from consent.models import ConsentEvent, ConsentState, NoticeVersion, Purpose, Subject
from consent.selectors import history
from consent.services import event_rows
from consent.services.event_checks import (  # noqa: F401  (messages re-exported for callers)
    CLOCK_SKEW,
    MSG_EVIDENCE_FIELDS,
    MSG_EVIDENCE_IP,
    MSG_EVIDENCE_VALUE,
    MSG_EXPIRES_BEFORE,
    MSG_KEY_FORMAT,
    MSG_METHOD,
    MSG_OCCURRED_IN_FUTURE,
    MSG_STATUS,
    EventInput,
    Item,
    check_shape,
    iso,
)
from consent.vocab import (
    VALID_FOR_PROCESSING,
    WITHDRAWALS,
    CollectionMethod,
    ConsentStatus,
    LegalBasis,
)
from governance.accounts.models import User
from governance.audit import services as audit
from governance.errors import ApplicationError, Conflict
from governance.policy import require

BATCH_LIMIT = 10_000

MSG_RECORD_FORBIDDEN = policy.MSG_RECORD_FORBIDDEN
MSG_PURPOSE_UNKNOWN = "There is no purpose '{slug}'."
MSG_PURPOSE_INACTIVE = (
    "Purpose '{slug}' is not active (latest version {version} is {status}); consent events are "
    "recorded only for active purposes."
)
MSG_PURPOSE_NOT_CONSENT = (
    "Purpose '{slug}' is processed under {basis}, not consent: it takes no consent events."
)
MSG_NOTICE_REQUIRED = (
    "Name the notice_version the subject saw: consent is given to what the subject was told."
)
MSG_NOTICE_UNKNOWN = "Purpose '{slug}' (version {purpose_version}) has no notice version {version}."
MSG_NOTICE_NOT_IN_EFFECT = (
    "Notice version {version} of purpose '{slug}' takes effect at {effective_from}, after "
    "occurred_at: the subject cannot have seen it."
)
MSG_KEY_REUSED = (
    "The idempotency key '{key}' was already used for a different event; a replay must send "
    "exactly the same body."
)
MSG_KEY_RACE = (
    "Another request with the same idempotency key is being recorded right now; retry, and "
    "the original event will be returned."
)
MSG_BATCH_EMPTY = "A batch needs at least one event."
MSG_BATCH_TOO_LARGE = f"A batch holds at most {BATCH_LIMIT:,} events; this one has {{count:,}}."
MSG_BATCH_REJECTED = (
    "{rejected} of {total} events were rejected, so nothing was recorded; see details.items."
)


@dataclass
class Recorded:
    event: ConsentEvent
    replayed: bool


class BatchRejected(ApplicationError):
    """Some items of a batch are unacceptable; ``extra["items"]`` says which and why."""


class BatchConflict(BatchRejected):
    status_code = 409
    code = "conflict"


def _lock_subjects(items: list[Item], now: datetime) -> None:
    """Create the subjects that are new, then lock every subject of the batch, in primary-key
    order. Creation runs in sorted order too, so two batches wait for each other instead of
    deadlocking on each other's new rows."""
    pairs = sorted({(i.data.namespace, i.data.subject_id) for i in items})
    if not pairs:
        return
    Subject.objects.bulk_create(
        [Subject(namespace=ns, external_id=ext, created_at=now) for ns, ext in pairs],
        ignore_conflicts=True,
        batch_size=2000,
    )
    by_namespace: dict[str, list[str]] = defaultdict(list)
    for namespace, external_id in pairs:
        by_namespace[namespace].append(external_id)
    condition = Q()
    for namespace, external_ids in by_namespace.items():
        condition |= Q(namespace=namespace, external_id__in=external_ids)
    subjects = {
        (s.namespace, s.external_id): s
        for s in Subject.objects.select_for_update().filter(condition).order_by("pk")
    }
    for item in items:
        item.subject = subjects[(item.data.namespace, item.data.subject_id)]


def _match_replays(items: list[Item], actor: User | None) -> None:
    """Same source + same key: the same body is a replay (answered with the original event),
    a different body is a conflict. Duplicates inside one batch are matched the same way."""
    keyed = [i for i in items if i.data.idempotency_key]
    if not keyed:
        return
    existing = {
        e.idempotency_key: e
        for e in ConsentEvent.objects.filter(
            Q(recorded_by=actor) if actor is not None else Q(recorded_by__isnull=True),
            idempotency_key__in={i.data.idempotency_key for i in keyed},
        ).select_related("subject", "purpose", "notice")
    }
    first_in_batch: dict[str, Item] = {}
    for item in keyed:
        key = item.data.idempotency_key
        original = existing.get(key)
        earlier = first_in_batch.get(key)
        if original is not None:
            if original.fingerprint == item.fingerprint:
                item.replay_of = original
            else:
                item.conflict = True
                item.fail("idempotency_key", MSG_KEY_REUSED.format(key=key))
        elif earlier is not None:
            if earlier.fingerprint == item.fingerprint:
                item.same_as = earlier
            else:
                item.conflict = True
                item.fail("idempotency_key", MSG_KEY_REUSED.format(key=key))
        else:
            first_in_batch[key] = item


def _resolve_purposes(items: list[Item]) -> None:
    """Each event belongs to the active version of its purpose, which must be consent-based;
    the notice it names must belong to that version and be in effect when the subject acted."""
    slugs = {i.data.purpose for i in items}
    versions: dict[str, list[Purpose]] = defaultdict(list)
    for purpose in Purpose.objects.filter(slug__in=slugs).order_by("slug", "-version"):
        versions[purpose.slug].append(purpose)
    active = {
        slug: next((p for p in rows if p.status == Purpose.Status.ACTIVE), None)
        for slug, rows in versions.items()
    }
    notices: dict[int, list[NoticeVersion]] = defaultdict(list)
    for notice in NoticeVersion.objects.filter(
        purpose__in=[p for p in active.values() if p is not None]
    ).order_by("purpose_id", "-version"):
        notices[notice.purpose_id].append(notice)

    validity: dict[tuple, datetime] = {}
    for item in items:
        slug = item.data.purpose
        if slug not in versions:
            item.fail("purpose", MSG_PURPOSE_UNKNOWN.format(slug=slug))
            continue
        purpose = active[slug]
        if purpose is None:
            latest = versions[slug][0]
            item.fail(
                "purpose",
                MSG_PURPOSE_INACTIVE.format(
                    slug=slug,
                    version=latest.version,
                    status=latest.get_status_display().lower(),
                ),
            )
            continue
        if purpose.legal_basis != LegalBasis.CONSENT:
            item.fail(
                "purpose",
                MSG_PURPOSE_NOT_CONSENT.format(
                    slug=slug, basis=LegalBasis(purpose.legal_basis).label
                ),
            )
            continue
        item.purpose = purpose
        _resolve_notice(item, notices[purpose.pk])
        if item.data.status in VALID_FOR_PROCESSING and not item.errors:
            key = (item.occurred_at, purpose.consent_validity_months)
            if key not in validity:  # a batch's events often share their moment
                validity[key] = add_months(*key)
            until = validity[key]
            if item.data.expires_at is not None:
                until = min(until, item.data.expires_at)
            item.valid_until = until


def _resolve_notice(item: Item, notices: list[NoticeVersion]) -> None:
    wanted = item.data.notice_version
    purpose = item.purpose
    if wanted is None:
        if item.data.status in VALID_FOR_PROCESSING:
            item.fail("notice_version", MSG_NOTICE_REQUIRED)
            return
        # Other statuses (a withdrawal, a refusal) may leave it out: the event then names the
        # notice in effect when it happened, if there was one.
        item.notice = next((n for n in notices if n.effective_from <= item.occurred_at), None)
        return
    notice = next((n for n in notices if n.version == wanted), None)
    if notice is None:
        item.fail(
            "notice_version",
            MSG_NOTICE_UNKNOWN.format(
                slug=purpose.slug, purpose_version=purpose.version, version=wanted
            ),
        )
    elif notice.effective_from > item.occurred_at:
        item.fail(
            "notice_version",
            MSG_NOTICE_NOT_IN_EFFECT.format(
                version=wanted, slug=purpose.slug, effective_from=iso(notice.effective_from)
            ),
        )
    else:
        item.notice = notice


def _insert(items: list[Item], actor: User | None, now: datetime) -> None:
    events = [
        ConsentEvent(
            subject=item.subject,
            purpose=item.purpose,
            notice=item.notice,
            status=item.data.status,
            occurred_at=item.occurred_at,
            recorded_at=now,
            expires_at=item.data.expires_at,
            valid_until=item.valid_until,
            collection_method=item.data.collection_method,
            evidence=item.evidence,
            recorded_by=actor,
            idempotency_key=item.data.idempotency_key,
            fingerprint=item.fingerprint,
        )
        for item in items
    ]
    try:
        # Inserted in submission order, so ids (the tie-break) follow the order of the batch.
        ConsentEvent.objects.bulk_create(events, batch_size=2000)
    except IntegrityError as error:
        # Only the idempotency constraint can fail here (everything else was checked under
        # the subject locks): a concurrent request inserted the same key for another subject.
        raise Conflict(MSG_KEY_RACE, {"field": "idempotency_key"}) from error
    for item, event in zip(items, events, strict=True):
        item.event = event


def _current_states(events: list[ConsentEvent]) -> dict[tuple[int, int], tuple]:
    """(occurred_at, event id) of the state of each (subject, purpose) the events touch."""
    pairs = {(e.subject_id, e.purpose_id) for e in events}
    return {
        (s.subject_id, s.purpose_id): (s.occurred_at, s.event_id)
        for s in ConsentState.objects.filter(
            subject_id__in={s for s, _ in pairs}, purpose_id__in={p for _, p in pairs}
        )
    }


def _apply_states(events: list[ConsentEvent], now: datetime) -> None:
    """Move each (subject, purpose) state to its latest event. Runs under the subject locks,
    so the states read here cannot change before this transaction commits."""
    current = _current_states(events)
    winners: dict[tuple[int, int], ConsentEvent] = {}
    for event in events:
        key = (event.subject_id, event.purpose_id)
        best = winners.get(key)
        best_order = (best.occurred_at, best.pk) if best else current.get(key)
        if best_order is None or (event.occurred_at, event.pk) > best_order:
            winners[key] = event
    ConsentState.objects.bulk_create(
        [
            ConsentState(
                subject_id=event.subject_id,
                purpose_id=event.purpose_id,
                event=event,
                status=event.status,
                occurred_at=event.occurred_at,
                valid_until=event.valid_until,
                updated_at=now,
            )
            for event in winners.values()
        ],
        update_conflicts=True,
        unique_fields=["subject", "purpose"],
        update_fields=["event", "status", "occurred_at", "valid_until", "updated_at"],
        batch_size=2000,
    )


def _audit_withdrawals(events: list[ConsentEvent], actor: User | None) -> list[int]:
    withdrawn = [e for e in events if e.status in WITHDRAWALS]
    for event in withdrawn:
        audit.record(
            action="consent.withdrawn",
            target=event,
            actor=actor,
            data=_event_summary(event),
        )
    return [e.pk for e in withdrawn]


def _event_summary(event: ConsentEvent) -> dict:
    # Internal ids only: the ledger is kept for good, the subject's pseudonym may be erased.
    return {
        "event": event.pk,
        "subject": event.subject_id,
        "purpose": event.purpose.slug,
        "purpose_version": event.purpose.version,
        "status": event.status,
        "occurred_at": event.occurred_at,
    }


def _record(
    data: Sequence[EventInput],
    actor: User | None,
    *,
    only_given: bool = False,
    set_based: bool = False,
) -> tuple[list[Item], list[ConsentEvent], list[int]]:
    """Check every item, then write the new ones. Raises nothing itself: the callers turn the
    items' errors into one error (single event) or a per-item report (batch).

    ``set_based`` (a batch on PostgreSQL) makes the same writes, under the same locks, as set
    operations (``consent.services.event_rows``); the checks are the same either way."""
    require(policy.may_record(actor))
    # Registered as an in-flight writer first: readers' snapshots stay below this moment until
    # these events are committed (consent.selectors.history.known_watermark).
    recorded_at = history.writing_moment()
    now = timezone.now()
    items = [Item(index=i, data=d) for i, d in enumerate(data)]
    for item in items:
        check_shape(item, now)
    acceptable = [i for i in items if not i.errors]
    if set_based:
        event_rows.lock_subjects(acceptable, now)
    else:
        _lock_subjects(acceptable, now)
    _match_replays(acceptable, actor)
    new = [i for i in acceptable if not i.errors and i.replay_of is None and i.same_as is None]
    _resolve_purposes(new)
    if only_given:
        _refuse_nothing_to_withdraw(new, now)
    if any(i.errors for i in items):
        return items, [], []
    if set_based:
        event_rows.insert_events(new, actor, recorded_at)
        if new:
            event_rows.apply_states(now)
    else:
        _insert(new, actor, recorded_at)
    events = [i.event for i in new]
    if not set_based:
        _apply_states(events, now)
    withdrawn = _audit_withdrawals(events, actor)
    if withdrawn:
        transaction.on_commit(
            lambda: signals.consent_withdrawn.send(sender=ConsentEvent, event_ids=withdrawn)
        )
    return items, events, withdrawn


def _refuse_nothing_to_withdraw(items: list[Item], now: datetime) -> None:
    """Withdrawals of consent that is not given now are refused (``policy.withdrawal_refusal``).
    The subjects are locked already, so two withdrawals sent at once (two tabs) are decided one
    after the other and the second sees the first."""
    for item in items:
        if item.errors or item.data.status not in WITHDRAWALS or item.purpose is None:
            continue
        state = (
            ConsentState.objects.select_related("purpose")
            .filter(subject=item.subject, purpose=item.purpose)
            .first()
        )
        refusal = policy.withdrawal_refusal(state, at=now)
        if refusal is not None:
            item.conflict = True
            item.fail("status", refusal.message)


def _results(items: list[Item]) -> list[Recorded]:
    results = []
    for item in items:
        if item.replay_of is not None:
            results.append(Recorded(event=item.replay_of, replayed=True))
        elif item.same_as is not None:
            original = item.same_as.replay_of or item.same_as.event
            results.append(Recorded(event=original, replayed=True))
        else:
            results.append(Recorded(event=item.event, replayed=False))
    return results


@transaction.atomic(durable=True)
def consent_record(*, event: EventInput, actor: User | None, only_given: bool = False) -> Recorded:
    """Record one consent event, or answer a replay (same source, same idempotency key, same
    body) with the original event and write nothing. With ``only_given``, a withdrawal of
    consent that is not given now is refused (409)."""
    items, created, _ = _record([event], actor, only_given=only_given)
    item = items[0]
    if item.errors:
        name, messages = next(iter(item.errors.items()))
        error = Conflict if item.conflict else ApplicationError
        raise error(messages[0], {"field": name, "errors": item.errors})
    if created and created[0].status not in WITHDRAWALS:  # withdrawals have their own event
        audit.record(
            action="consent.recorded",
            target=created[0],
            actor=actor,
            data=_event_summary(created[0]),
        )
    return _results(items)[0]


def _set_based() -> bool:
    """Batches take the set-based writes on PostgreSQL; SQLite (``make run``) the ORM's."""
    return connection.vendor == "postgresql"


@transaction.atomic(durable=True)
def consent_record_batch(*, events: Sequence[EventInput], actor: User | None) -> list[Recorded]:
    """Record up to BATCH_LIMIT events, all or nothing. Results are in submission order."""
    if not events:
        raise ApplicationError(MSG_BATCH_EMPTY)
    if len(events) > BATCH_LIMIT:
        raise ApplicationError(
            MSG_BATCH_TOO_LARGE.format(count=len(events)), {"limit": BATCH_LIMIT}
        )
    items, created, withdrawn = _record(events, actor, set_based=_set_based())
    rejected = [i for i in items if i.errors]
    if rejected:
        error = BatchConflict if all(i.conflict for i in rejected) else BatchRejected
        raise error(
            MSG_BATCH_REJECTED.format(rejected=len(rejected), total=len(items)),
            {"items": [{"index": i.index, "errors": i.errors} for i in rejected]},
        )
    results = _results(items)
    if created:
        digest = hashlib.sha256("".join(i.fingerprint for i in items).encode()).hexdigest()
        audit.record(
            action="consent.batch_recorded",
            actor=actor,
            object_repr=f"batch of {len(items)} consent events",
            data={
                "events": len(items),
                "recorded": len(created),
                "replayed": len(items) - len(created),
                "withdrawals": len(withdrawn),
                "first_event": created[0].pk,
                "last_event": created[-1].pk,
                "sha256": digest,
            },
        )
    return results


def consent_withdraw(
    *,
    subject_id: str,
    purpose: str,
    actor: User | None,
    namespace: str = DEFAULT_NAMESPACE,
    occurred_at: datetime | None = None,
    collection_method: str = CollectionMethod.PORTAL,
    idempotency_key: str | None = None,
    evidence: Mapping[str, str] | None = None,
) -> Recorded:
    """Withdraw consent (GDPR Art. 7(3)): one call, the same shape as giving, no notice
    needed. Later events win by occurred_at, so an older grant arriving late cannot undo it.
    Only consent that is given now is withdrawn: otherwise 409, nothing recorded
    (``policy.withdrawal_refusal``; a replay of the same key still answers the original)."""
    return consent_record(
        only_given=True,
        event=EventInput(
            subject_id=subject_id,
            purpose=purpose,
            status=ConsentStatus.WITHDRAWN,
            namespace=namespace,
            occurred_at=occurred_at,
            collection_method=collection_method,
            idempotency_key=idempotency_key,
            evidence=evidence or {},
        ),
        actor=actor,
    )
