"""The privacy-budget ledger: a dataset under differential privacy has a total budget per
data block (ε, and δ for approximate DP; basic sequential composition: the claims on a block
add up). A job acquires a claim (locked: counted as spent), then commits it (spent) or
releases it (returned); a lock that nobody settles expires back into the budget.

Acquiring locks the requirement's row, so concurrent claims are decided one after another
against committed and live locked claims: the budget is never overspent, whatever the number
of processes. Every step is a ledger event; a refused step is one too (and changes nothing
else)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from datasets.models import Dataset
from governance.access import policy
from governance.access.models import BudgetClaim, BudgetRequirement
from governance.access.obligations import live_requirement
from governance.access.services.check import access_decide
from governance.accounts.models import User
from governance.audit import services as audit
from governance.errors import ApplicationError, Conflict, NotPermitted
from governance.policy import require

EPSILON_QUANTUM = Decimal("0.000001")
DELTA_QUANTUM = Decimal("0.000000000000000001")
MAX_EPSILON = Decimal("1000000")
MAX_BLOCK_DAYS = 36500  # a hundred years
MAX_LOCK_SECONDS = 30 * 24 * 3600  # thirty days
# A plain decimal number in ASCII: Decimal() and float() also read "\u0661" (Arabic-Indic one),
# full-width digits, "1_000" and surrounding spaces, none of which is an amount.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)

MSG_EPSILON = "epsilon must be a finite number greater than 0 (at least 0.000001)."
MSG_EPSILON_LARGE = "epsilon must be below 1,000,000."
MSG_DELTA = "delta must be a finite number with 0 <= delta < 1."
MSG_BLOCK_DAYS = "block_days must be a whole number of days from 1 to 36500 (or left out)."
MSG_LOCK_SECONDS = "lock_seconds must be a whole number of seconds from 10 to 2592000 (30 days)."
MSG_BLOCKS = "blocks must be a non-empty list of started data blocks (0 to {last})."
MSG_DECISION = (
    "decision_id must name an allow of the access check for this caller, dataset and purpose "
    "(the decision_id of your check's answer), or be left out."
)
MSG_NOT_ALLOWED = (
    "The access check denies this dataset and purpose now, so no budget can be claimed; see "
    "details.reasons."
)
MSG_NO_REQUIREMENT = (
    "Dataset {dataset} does not require differential privacy for purpose {purpose}: there is "
    "no budget to claim."
)
MSG_EXCEEDED = (
    "The claim would exceed the privacy budget of {blocks}; see details.remaining for what is "
    "left per block."
)
MSG_NO_ROOM = "No started data block has this much budget left; see details.remaining."
MSG_NOT_LOCKED = "This claim is {status}; only a locked claim can be {verb}."
MSG_LOCK_EXPIRED = "This claim's lock expired at {at}; its budget went back. Acquire a new claim."
MSG_BLOCKS_FIXED = (
    "Claims were made on this budget's data blocks; when they start and how long they are "
    "cannot change any more."
)
MSG_MIXED = (
    "Dataset {dataset} already has a privacy budget for {scope}, and a dataset has one live "
    "budget: set the budget for {scope} again to change it (its claims carry over). A budget "
    "cannot be moved to {other}."
)


class BudgetExceeded(Conflict):
    code = "budget_exceeded"


class NoBudgetRequirement(ApplicationError):
    code = "no_budget_requirement"


@dataclass(frozen=True)
class Block:
    index: int
    starts_at: datetime
    ends_at: datetime | None  # None: the dataset is one block
    epsilon_spent: Decimal
    delta_spent: Decimal
    epsilon_remaining: Decimal
    delta_remaining: Decimal

    def as_json(self) -> dict:
        return {
            "index": self.index,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "epsilon_spent": float(self.epsilon_spent),
            "delta_spent": float(self.delta_spent),
            "epsilon_remaining": float(self.epsilon_remaining),
            "delta_remaining": float(self.delta_remaining),
        }


def _decimal(value, *, message: str, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ApplicationError(message, {"field": field})
    if isinstance(value, float) and not math.isfinite(value):
        raise ApplicationError(message, {"field": field})
    if isinstance(value, str) and not _NUMBER.fullmatch(value):
        raise ApplicationError(message, {"field": field})
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ApplicationError(message, {"field": field}) from None
    if not number.is_finite():
        raise ApplicationError(message, {"field": field})
    return number


def parse_epsilon(value, *, rounding: str = ROUND_CEILING) -> Decimal:
    """ε to the quantum (10⁻⁶). A claim rounds UP (``ROUND_CEILING``): the ledger never
    charges less than was spent. A budget rounds down (``ROUND_FLOOR``): it never grants more
    than was set."""
    number = _decimal(value, message=MSG_EPSILON, field="epsilon")
    if number < EPSILON_QUANTUM:
        raise ApplicationError(MSG_EPSILON, {"field": "epsilon"})
    epsilon = number.quantize(EPSILON_QUANTUM, rounding=rounding)
    if epsilon >= MAX_EPSILON:
        raise ApplicationError(MSG_EPSILON_LARGE, {"field": "epsilon"})
    return epsilon


def parse_delta(value, *, rounding: str = ROUND_CEILING) -> Decimal:
    """δ to the quantum (10⁻¹⁸), rounded like ε (up for a claim, down for a budget)."""
    if value is None:
        return Decimal(0)
    number = _decimal(value, message=MSG_DELTA, field="delta")
    if number < 0:
        raise ApplicationError(MSG_DELTA, {"field": "delta"})
    delta = number.quantize(DELTA_QUANTUM, rounding=rounding)
    if delta >= Decimal(1):
        raise ApplicationError(MSG_DELTA, {"field": "delta"})
    return delta


def last_started_block(requirement: BudgetRequirement, now: datetime) -> int:
    if not requirement.block_days:
        return 0
    elapsed = now - requirement.starts_at
    if elapsed < timedelta(0):
        return -1
    return int(elapsed / timedelta(days=requirement.block_days))


def block_bounds(requirement: BudgetRequirement, index: int) -> tuple[datetime, datetime | None]:
    if not requirement.block_days:
        return requirement.starts_at, None
    length = timedelta(days=requirement.block_days)
    start = requirement.starts_at + index * length
    return start, start + length


def claim_status(claim: BudgetClaim, now: datetime | None = None) -> str:
    """The claim's status as of ``now``: a lock past ``lock_expires_at`` is ``expired`` at
    once (it counts for nothing and can no longer be committed), before the beat job marks it."""
    now = now or timezone.now()
    if claim.status == BudgetClaim.Status.LOCKED and claim.lock_expires_at <= now:
        return BudgetClaim.Status.EXPIRED
    return claim.status


def live_claims(requirement: BudgetRequirement, now: datetime):
    """Claims that count against the budget now: committed ones, and locked ones whose lock
    has not expired (an expired lock counts for nothing, even before the beat marks it)."""
    return requirement.claims.filter(
        Q(status=BudgetClaim.Status.COMMITTED)
        | Q(status=BudgetClaim.Status.LOCKED, lock_expires_at__gt=now)
    )


def live_claim_amounts(requirements, now: datetime) -> dict[int, list]:
    """(epsilon, delta, blocks) of the live claims of several requirements, in one query."""
    amounts: dict[int, list] = {r.pk: [] for r in requirements}
    rows = BudgetClaim.objects.filter(requirement__in=[r.pk for r in requirements]).filter(
        Q(status=BudgetClaim.Status.COMMITTED)
        | Q(status=BudgetClaim.Status.LOCKED, lock_expires_at__gt=now)
    )
    for requirement_id, epsilon, delta, blocks in rows.values_list(
        "requirement_id", "epsilon", "delta", "blocks"
    ):
        amounts[requirement_id].append((epsilon, delta, blocks))
    return amounts


def budget_blocks(
    requirement: BudgetRequirement, now: datetime | None = None, *, amounts: list | None = None
) -> list[Block]:
    """Every started block with what is spent (committed and live locks) and what is left.
    ``amounts`` (from ``live_claim_amounts``) saves the query when listing many budgets."""
    now = now or timezone.now()
    last = last_started_block(requirement, now)
    spent = {i: [Decimal(0), Decimal(0)] for i in range(last + 1)}
    if amounts is None:
        amounts = list(live_claims(requirement, now).values_list("epsilon", "delta", "blocks"))
    for epsilon, delta, blocks in amounts:
        for index in blocks:
            if index in spent:
                spent[index][0] += epsilon
                spent[index][1] += delta
    blocks = []
    for index in range(last + 1):
        starts_at, ends_at = block_bounds(requirement, index)
        epsilon_spent, delta_spent = spent[index]
        blocks.append(
            Block(
                index=index,
                starts_at=starts_at,
                ends_at=ends_at,
                epsilon_spent=epsilon_spent,
                delta_spent=delta_spent,
                epsilon_remaining=max(requirement.epsilon - epsilon_spent, Decimal(0)),
                delta_remaining=max(requirement.delta - delta_spent, Decimal(0)),
            )
        )
    return blocks


def _remaining_details(blocks: list[Block]) -> dict:
    return {
        str(b.index): {
            "epsilon": float(b.epsilon_remaining),
            "delta": float(b.delta_remaining),
        }
        for b in blocks
    }


def _claim_data(claim: BudgetClaim, **extra) -> dict:
    return {
        "claim": str(claim.pk),
        "dataset": claim.dataset.slug,
        "purpose": claim.purpose_slug,
        "requirement": claim.requirement_id,
        "epsilon": str(claim.epsilon),
        "delta": str(claim.delta),
        "blocks": list(claim.blocks),
        "status": claim.status,
        **extra,
    }


@audit.records_refusal("access.budget_claim_refused", actor="actor")
@transaction.atomic(durable=True)
def budget_claim_acquire(
    *,
    actor: User,
    dataset_slug: str,
    purpose_slug: str,
    epsilon,
    delta=None,
    blocks: list[int] | None = None,
    note: str = "",
    decision_id: str = "",
) -> BudgetClaim:
    """Lock ``epsilon`` (and ``delta``) of the budget of each data block the job reads
    (``blocks``; default: every started block with that much left). Only with an allow for
    the dataset and purpose now; refused with what is left per block when it does not fit."""
    epsilon = parse_epsilon(epsilon)
    delta = parse_delta(delta)
    decision, dataset = access_decide(
        principal=actor, dataset_slug=dataset_slug, purpose_slug=purpose_slug
    )
    if not decision.allow:
        raise NotPermitted(
            MSG_NOT_ALLOWED, {"reasons": [reason["code"] for reason in decision.reasons]}
        )
    if decision_id and not _is_allow_of(
        decision_id=decision_id, actor=actor, dataset=dataset, purpose_slug=purpose_slug
    ):
        raise ApplicationError(MSG_DECISION, {"field": "decision_id"})
    requirement = live_requirement(dataset=dataset, purpose_slug=purpose_slug)
    if requirement is None:
        raise NoBudgetRequirement(
            MSG_NO_REQUIREMENT.format(dataset=dataset_slug, purpose=purpose_slug),
            {"field": "dataset"},
        )
    # Claims on one requirement are decided one at a time: lock its row.
    requirement = BudgetRequirement.objects.select_for_update().get(pk=requirement.pk)
    now = timezone.now()
    current = budget_blocks(requirement, now)
    last = len(current) - 1
    if blocks is None:
        chosen = [
            b.index
            for b in current
            if b.epsilon_remaining >= epsilon and b.delta_remaining >= delta
        ]
        if not chosen:
            raise BudgetExceeded(MSG_NO_ROOM, {"remaining": _remaining_details(current)})
    else:
        if (
            not isinstance(blocks, list)
            or not blocks
            or any(isinstance(i, bool) or not isinstance(i, int) for i in blocks)
            or any(not 0 <= i <= last for i in blocks)
        ):
            raise ApplicationError(MSG_BLOCKS.format(last=last), {"field": "blocks"})
        chosen = sorted(set(blocks))
        short = [
            current[i]
            for i in chosen
            if current[i].epsilon_remaining < epsilon or current[i].delta_remaining < delta
        ]
        if short:
            names = ", ".join(f"block {b.index}" for b in short)
            raise BudgetExceeded(
                MSG_EXCEEDED.format(blocks=names),
                {"remaining": _remaining_details([current[i] for i in chosen])},
            )
    claim = BudgetClaim.objects.create(
        requirement=requirement,
        dataset=dataset,
        purpose_slug=purpose_slug,
        principal=actor,
        epsilon=epsilon,
        delta=delta,
        blocks=chosen,
        decision_id=decision_id[:64],
        note=note[:500],
        created_at=now,
        lock_expires_at=now + timedelta(seconds=requirement.lock_seconds),
    )
    audit.record(
        action="access.budget_claim_acquired",
        target=claim,
        actor=actor,
        data=_claim_data(claim, grant=decision.grant_id, lock_expires_at=claim.lock_expires_at),
    )
    return claim


def _is_allow_of(*, decision_id: str, actor: User, dataset: Dataset, purpose_slug: str) -> bool:
    """Whether ``decision_id`` is an allow the check gave ``actor`` for this dataset and
    purpose: the claim shows it as its evidence, so it must be one. The check records each
    answer as one ``access.check`` ledger entry targeting the dataset (an indexed probe)."""
    from django.contrib.contenttypes.models import ContentType

    from governance.audit.models import LedgerEntry

    return LedgerEntry.objects.filter(
        event="access.check",
        content_type=ContentType.objects.get_for_model(Dataset),
        object_pk=str(dataset.pk),
        actor=actor,
        additional_data__decision_id=decision_id,
        additional_data__decision="allow",
        additional_data__dataset=dataset.slug,
        additional_data__purpose=purpose_slug,
    ).exists()


def _settle(*, actor: User, claim: BudgetClaim, to: str, verb: str) -> BudgetClaim:
    claim = BudgetClaim.objects.select_for_update().select_related("dataset").get(pk=claim.pk)
    rule = (
        policy.may_commit_claim if to == BudgetClaim.Status.COMMITTED else policy.may_release_claim
    )
    require(rule(actor, claim))
    now = timezone.now()
    if claim.status != BudgetClaim.Status.LOCKED:
        raise Conflict(
            MSG_NOT_LOCKED.format(status=claim.get_status_display().lower(), verb=verb),
            {"status": claim.status},
        )
    if to == BudgetClaim.Status.COMMITTED and claim.lock_expires_at <= now:
        raise Conflict(
            MSG_LOCK_EXPIRED.format(at=claim.lock_expires_at.isoformat()), {"status": "expired"}
        )
    claim.status = to
    fields = ["status"]
    if to == BudgetClaim.Status.COMMITTED:
        claim.committed_at = now
        fields.append("committed_at")
    else:
        claim.released_at = now
        fields.append("released_at")
    claim.save(update_fields=fields)
    audit.record(
        action=f"access.budget_claim_{to}",
        target=claim,
        actor=actor,
        data=_claim_data(claim),
    )
    return claim


@audit.records_refusal("access.budget_claim_refused", actor="actor")
@transaction.atomic(durable=True)
def budget_claim_commit(*, actor: User, claim: BudgetClaim) -> BudgetClaim:
    """The job spent its claim (it released results computed with it): for good."""
    return _settle(actor=actor, claim=claim, to=BudgetClaim.Status.COMMITTED, verb="committed")


@audit.records_refusal("access.budget_claim_refused", actor="actor")
@transaction.atomic(durable=True)
def budget_claim_release(*, actor: User, claim: BudgetClaim) -> BudgetClaim:
    """The job released nothing computed with the claim: its budget goes back."""
    return _settle(actor=actor, claim=claim, to=BudgetClaim.Status.RELEASED, verb="released")


def budget_claims_expire(*, now: datetime | None = None) -> int:
    """Beat job: locks past their expiry go back to the budget (a crashed job never settled
    them), one ledger event each. Idempotent; safe beside a commit (row locks, SKIP LOCKED)."""
    now = now or timezone.now()
    expired = 0
    while True:
        with transaction.atomic(durable=True):
            batch = list(
                BudgetClaim.objects.select_for_update(skip_locked=True)
                .select_related("dataset")
                .filter(status=BudgetClaim.Status.LOCKED, lock_expires_at__lte=now)
                .order_by("pk")[:200]
            )
            for claim in batch:
                claim.status = BudgetClaim.Status.EXPIRED
                claim.released_at = now
                claim.save(update_fields=["status", "released_at"])
                audit.record(
                    action="access.budget_claim_expired",
                    target=claim,
                    actor=None,
                    data=_claim_data(claim, lock_expires_at=claim.lock_expires_at),
                )
        expired += len(batch)
        if len(batch) < 200:
            return expired


@audit.records_refusal("access.budget_requirement_refused", target="dataset", actor="actor")
@transaction.atomic(durable=True)
def budget_requirement_set(
    *,
    actor: User,
    dataset: Dataset,
    epsilon,
    delta=None,
    purpose_slug: str = "",
    block_days: int | None = None,
    lock_seconds: int | None = None,
    note: str = "",
    starts_at: datetime | None = None,
) -> BudgetRequirement:
    """Require differential privacy of ``dataset`` (for every purpose, or one): a new
    requirement replaces the live one, whose claims stay in the ledger. The new budget starts
    empty of claims: lowering a budget is done by setting it, never by forgetting spending —
    claims of the replaced requirement on blocks it shares still count (carried over).
    ``starts_at`` is when the first data block begins (by the data's event time; default now):
    with ``block_days``, data older than it belongs to no block and is not read."""
    require(policy.may_set_budget(actor, dataset))
    epsilon = parse_epsilon(epsilon, rounding=ROUND_FLOOR)
    delta = parse_delta(delta, rounding=ROUND_FLOOR)
    if block_days is not None and (
        isinstance(block_days, bool)
        or not isinstance(block_days, int)
        or not 1 <= block_days <= MAX_BLOCK_DAYS
    ):
        raise ApplicationError(MSG_BLOCK_DAYS, {"field": "block_days"})
    from django.conf import settings

    lock_seconds = settings.BUDGET_CLAIM_LOCK_SECONDS if lock_seconds is None else lock_seconds
    if (
        isinstance(lock_seconds, bool)
        or not isinstance(lock_seconds, int)
        or not 10 <= lock_seconds <= MAX_LOCK_SECONDS
    ):
        raise ApplicationError(MSG_LOCK_SECONDS, {"field": "lock_seconds"})
    Dataset.objects.select_for_update().get(pk=dataset.pk)  # one setter at a time
    previous = BudgetRequirement.objects.filter(dataset=dataset, retired_at=None).first()
    now = timezone.now()
    if previous is not None and previous.purpose_slug != purpose_slug:
        scope = previous.purpose_slug or "every purpose"
        other = purpose_slug or "every purpose"
        raise Conflict(
            MSG_MIXED.format(dataset=dataset.slug, scope=scope, other=other),
            {"field": "purpose"},
        )
    if previous is not None:
        # The blocks (when they start, how long they are) may be corrected until a claim
        # names one of them; a released claim counted for nothing.
        moved = starts_at is not None and starts_at != previous.starts_at
        resized = previous.block_days != block_days
        if (moved or resized) and previous.claims.exclude(
            status=BudgetClaim.Status.RELEASED
        ).exists():
            raise Conflict(MSG_BLOCKS_FIXED, {"field": "starts_at" if moved else "block_days"})
        previous.retired_at = now
        previous.retired_by = actor
        previous.save(update_fields=["retired_at", "retired_by"])
        starts_at = starts_at or previous.starts_at
    starts_at = starts_at or now
    requirement = BudgetRequirement.objects.create(
        dataset=dataset,
        purpose_slug=purpose_slug,
        epsilon=epsilon,
        delta=delta,
        block_days=block_days,
        starts_at=starts_at,
        lock_seconds=lock_seconds,
        note=note,
        created_by=actor,
        created_at=now,
    )
    if previous is not None:
        # Spending is never forgotten: the live claims move to the new requirement.
        BudgetClaim.objects.filter(requirement=previous).update(requirement=requirement)
    audit.record(
        action="access.budget_requirement_set",
        target=requirement,
        actor=actor,
        data={
            "dataset": dataset.slug,
            "purpose": purpose_slug or None,
            "epsilon": str(epsilon),
            "delta": str(delta),
            "block_days": block_days,
            "lock_seconds": lock_seconds,
            "replaces": previous.pk if previous else None,
        },
    )
    return requirement
