"""Reads of the ledger for the auditor portal. Every read checks ``audit.view_ledgerentry``:
auditors, privacy officers and administrators hold it; stewards and engineers do not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist
from django.db.models import Q, QuerySet

from governance.audit import chain, policy
from governance.audit.models import ChainLink, Checkpoint, LedgerEntry
from governance.errors import NotFound
from governance.policy import require

MSG_NOT_PERMITTED = policy.MSG_NOT_PERMITTED
MSG_ENTRY_NOT_FOUND = "No such ledger entry."
DECISIONS = ("allow", "deny")
PERMISSION = policy.PERMISSION


def _require_viewer(viewer) -> None:
    require(policy.may_read_ledger(viewer))


def ledger_search(
    *,
    viewer,
    actor: str | None = None,
    dataset: str | None = None,
    purpose: str | None = None,
    event: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    decision: str | None = None,
) -> QuerySet[LedgerEntry]:
    """Ledger entries matching every given filter, newest first.

    ``actor`` matches the username recorded with the entry (or the user's current one);
    ``dataset`` matches domain events about a dataset (``additional_data.dataset``) and model
    changes of the dataset itself; ``event`` ending in a dot is a prefix ("access." is every
    access event); the time range is half-open, ``[start, end)``."""
    _require_viewer(viewer)
    entries = LedgerEntry.objects.select_related("content_type", "link")
    if actor:
        entries = entries.filter(Q(actor_label=actor) | Q(actor__username=actor))
    if dataset:
        entries = entries.filter(
            Q(additional_data__dataset=dataset)
            | Q(
                content_type__app_label="datasets",
                content_type__model="dataset",
                object_repr=dataset,
            )
        )
    if purpose:
        entries = entries.filter(additional_data__purpose=purpose)
    if event:
        if event.endswith("."):
            entries = entries.filter(event__startswith=event)
        else:
            entries = entries.filter(event=event)
    if start is not None:
        entries = entries.filter(timestamp__gte=start)
    if end is not None:
        entries = entries.filter(timestamp__lt=end)
    if decision:
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}")
        entries = entries.filter(additional_data__decision=decision)
    return entries.order_by("-timestamp", "-id")


def ledger_entry_get_for(*, viewer, pk: int) -> LedgerEntry:
    _require_viewer(viewer)
    entry = (
        LedgerEntry.objects.select_related("content_type", "link", "actor").filter(pk=pk).first()
    )
    if entry is None:
        raise NotFound(MSG_ENTRY_NOT_FOUND)
    return entry


def latest_checkpoint() -> Checkpoint | None:
    return Checkpoint.objects.order_by("-size", "-id").first()


def checkpoint_covering(*, position: int) -> Checkpoint | None:
    """The latest checkpoint whose signed chain includes ``position``."""
    return Checkpoint.objects.filter(size__gt=position).order_by("-size", "-id").first()


# Links walked from an entry to the head its checkpoint signed; beyond this the page points to
# ``manage.py verify_audit`` instead of hashing on a web request.
PROOF_WALK_LIMIT = 5000


@dataclass(frozen=True)
class ChainProof:
    position: int
    stored_entry_hash: str
    recomputed_entry_hash: str
    previous_chain_hash: str
    chain_hash: str
    recomputed_chain_hash: str
    sealed_at: datetime
    checkpoint: Checkpoint | None
    checkpoint_signature_ok: bool | None  # None: no checkpoint covers the entry yet
    checkpoint_head_ok: bool | None  # None: not checked (no checkpoint, or too far to walk)

    @property
    def entry_hash_ok(self) -> bool:
        return self.stored_entry_hash == self.recomputed_entry_hash

    @property
    def chain_hash_ok(self) -> bool:
        return self.chain_hash == self.recomputed_chain_hash

    @property
    def verified(self) -> bool:
        """The entry is unchanged since sealing and its link follows from its predecessor."""
        return self.entry_hash_ok and self.chain_hash_ok


def entry_chain_proof(*, viewer, entry: LedgerEntry) -> ChainProof | None:
    """The entry's link in the hash chain, recomputed from the entry as it is now: its entry
    hash, the predecessor's chain hash, its own chain hash, and the latest checkpoint that
    covers it, with that checkpoint's signature and (when the walk is short) the signed head
    recomputed from the stored links. None when the entry is not sealed yet."""
    _require_viewer(viewer)
    try:
        link = entry.link
    except ObjectDoesNotExist:
        return None
    previous = (
        ChainLink.objects.filter(position=link.position - 1)
        .values_list("chain_hash", flat=True)
        .first()
        if link.position > 0
        else chain.GENESIS
    ) or ""
    recomputed_entry = chain.entry_hash(chain.canonical_entry(entry))
    recomputed_chain = chain.chain_hash(previous, link.entry_hash) if previous else ""
    checkpoint = checkpoint_covering(position=link.position)
    signature_ok = head_ok = None
    if checkpoint is not None:
        signature_ok = _checkpoint_signature_ok(checkpoint)
        if checkpoint.size - link.position <= PROOF_WALK_LIMIT:
            head = link.chain_hash
            for entry_hash_hex in (
                ChainLink.objects.filter(position__gt=link.position, position__lt=checkpoint.size)
                .order_by("position")
                .values_list("entry_hash", flat=True)
            ):
                head = chain.chain_hash(head, entry_hash_hex)
            head_ok = head == checkpoint.head_hash
    return ChainProof(
        position=link.position,
        stored_entry_hash=link.entry_hash,
        recomputed_entry_hash=recomputed_entry,
        previous_chain_hash=previous,
        chain_hash=link.chain_hash,
        recomputed_chain_hash=recomputed_chain,
        sealed_at=link.sealed_at,
        checkpoint=checkpoint,
        checkpoint_signature_ok=signature_ok,
        checkpoint_head_ok=head_ok,
    )


def _checkpoint_signature_ok(checkpoint: Checkpoint) -> bool:
    try:
        key = chain._public_key(chain.checkpoint_public_keys(), checkpoint.kid)
        if key is None:
            return False
        key.verify(
            chain._b64url_decode(checkpoint.signature),
            chain.checkpoint_text(
                size=checkpoint.size,
                head_hash=checkpoint.head_hash,
                created_at=checkpoint.created_at,
            ),
        )
    except (InvalidSignature, ValueError, TypeError, ImproperlyConfigured):
        return False
    return True
