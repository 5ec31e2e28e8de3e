"""Checks of a consent event as submitted that need no database: formats, clocks, evidence
(hashed here, before anything is stored), and the fingerprint that recognises a replay."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from consent.identifiers import (
    DEFAULT_NAMESPACE,
    evidence_digest,
    namespace_problem,
    subject_id_problem,
)
from consent.models import ConsentEvent, NoticeVersion, Purpose, Subject
from consent.vocab import CollectionMethod, ConsentStatus

# How far ahead of the registry's clock a source's clock may run.
CLOCK_SKEW = timedelta(minutes=5)
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")
EVIDENCE_FIELDS = ("form_id", "reference", "user_agent", "ip_address")

# (``TextChoices.values`` builds a new list on every read: read once.)
_STATUSES = frozenset(ConsentStatus.values)
_METHODS = frozenset(CollectionMethod.values)

# The fingerprint's JSON: json.dumps(body, sort_keys=True, separators=(",", ":"), default=str),
# with the encoder made once rather than per event.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)

MSG_STATUS = "Unknown consent status '{status}'; use one of: {choices}."
MSG_METHOD = "Unknown collection method '{method}'; use one of: {choices}."
MSG_OCCURRED_IN_FUTURE = (
    "occurred_at lies in the future (more than 5 minutes ahead of the registry's clock)."
)
MSG_EXPIRES_BEFORE = "expires_at must be later than occurred_at."
MSG_EVIDENCE_FIELDS = (
    "Unknown evidence field(s): {fields}. Evidence may hold only: form_id, reference, "
    "user_agent, ip_address (the last two are stored only as keyed hashes)."
)
MSG_EVIDENCE_VALUE = "Evidence values are text of at most 1000 characters."
MSG_EVIDENCE_IP = "evidence.ip_address is not an IP address."
MSG_KEY_FORMAT = "An idempotency key is 1-128 printable ASCII characters without spaces."


@dataclass(frozen=True)
class EventInput:
    """One event as a source submits it (already type-checked by the API or the form)."""

    subject_id: str
    purpose: str
    status: str
    namespace: str = DEFAULT_NAMESPACE
    occurred_at: datetime | None = None
    notice_version: int | None = None
    collection_method: str = CollectionMethod.API
    expires_at: datetime | None = None
    evidence: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None


@dataclass
class Item:
    """One event on its way through recording: the input, the problems found, and what it
    resolved to (subject, purpose version, notice, replayed original, new event)."""

    index: int
    data: EventInput
    errors: dict[str, list[str]] = field(default_factory=dict)
    conflict: bool = False
    evidence: dict[str, str] = field(default_factory=dict)
    fingerprint: str = ""
    occurred_at: datetime | None = None
    subject: Subject | None = None
    subject_pk: int | None = None
    purpose: Purpose | None = None
    notice: NoticeVersion | None = None
    valid_until: datetime | None = None
    replay_of: ConsentEvent | None = None
    same_as: Item | None = None
    event: ConsentEvent | None = None

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def check_shape(item: Item, now: datetime) -> None:
    """Checks that need no database."""
    data = item.data
    if problem := namespace_problem(data.namespace):
        item.fail("namespace", problem)
    if problem := subject_id_problem(data.subject_id):
        item.fail("subject_id", problem)
    if data.status not in _STATUSES:
        item.fail(
            "status", MSG_STATUS.format(status=data.status, choices=", ".join(ConsentStatus.values))
        )
    if data.collection_method not in _METHODS:
        item.fail(
            "collection_method",
            MSG_METHOD.format(
                method=data.collection_method, choices=", ".join(CollectionMethod.values)
            ),
        )
    item.occurred_at = data.occurred_at or now
    if item.occurred_at > now + CLOCK_SKEW:
        item.fail("occurred_at", MSG_OCCURRED_IN_FUTURE)
    if data.expires_at is not None and data.expires_at <= item.occurred_at:
        item.fail("expires_at", MSG_EXPIRES_BEFORE)
    if data.idempotency_key is not None and not IDEMPOTENCY_KEY.match(data.idempotency_key):
        item.fail("idempotency_key", MSG_KEY_FORMAT)
    item.evidence = _evidence(item)
    item.fingerprint = _fingerprint(item)


def _evidence(item: Item) -> dict[str, str]:
    """What is stored: form id and reference as given; user agent and client address only as
    keyed hashes. The raw values never reach the database."""
    raw = dict(item.data.evidence or {})
    unknown = sorted(set(raw) - set(EVIDENCE_FIELDS))
    if unknown:
        item.fail("evidence", MSG_EVIDENCE_FIELDS.format(fields=", ".join(unknown)))
        return {}
    if any(not isinstance(v, str) or len(v) > 1000 for v in raw.values()):
        item.fail("evidence", MSG_EVIDENCE_VALUE)
        return {}
    stored = {name: raw[name] for name in ("form_id", "reference") if raw.get(name)}
    if raw.get("user_agent"):
        stored["user_agent_hmac"] = evidence_digest("user_agent", raw["user_agent"])
    if raw.get("ip_address"):
        try:
            address = str(ipaddress.ip_address(raw["ip_address"].strip()))
        except ValueError:
            item.fail("evidence", MSG_EVIDENCE_IP)
            return {}
        stored["ip_address_hmac"] = evidence_digest("ip_address", address)
    return stored


def _fingerprint(item: Item) -> str:
    """The request as submitted (defaults not filled in, evidence already hashed), so that a
    replay of the same body matches even when occurred_at was left to the registry's clock."""
    data = item.data
    body = {
        "namespace": data.namespace,
        "subject_id": data.subject_id,
        "purpose": data.purpose,
        "status": data.status,
        "occurred_at": iso(data.occurred_at),
        "notice_version": data.notice_version,
        "collection_method": data.collection_method,
        "expires_at": iso(data.expires_at),
        "evidence": item.evidence,
    }
    canonical = _CANONICAL.encode(body)
    return hashlib.sha256(canonical.encode()).hexdigest()
