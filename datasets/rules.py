"""Pure rules of the catalog: no database, so they can be tested exhaustively."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from datasets.taxonomy import Role

PUBLIC, INTERNAL, CONFIDENTIAL, RESTRICTED = "public", "internal", "confidential", "restricted"
SENSITIVITY_ORDER = (PUBLIC, INTERNAL, CONFIDENTIAL, RESTRICTED)


class Classified(Protocol):
    role: str
    special_category: str


def sensitivity_of(fields: Iterable[Classified]) -> str:
    """A dataset is as sensitive as its most sensitive field.

    restricted   any special category (GDPR Art. 9, or Art. 10 criminal-offence data)
    confidential any direct identifier or sensitive attribute
    internal     any quasi-identifier, or any field nobody classified yet (fail safe)
    public       every field classified as non-personal (and at least one field)
    A dataset with no fields is internal: nothing is known about it yet."""
    level = 0
    seen = False
    for field in fields:
        seen = True
        if field.special_category:
            return RESTRICTED
        if field.role in (Role.DIRECT_IDENTIFIER, Role.SENSITIVE):
            level = max(level, 2)
        elif field.role == Role.QUASI_IDENTIFIER or not field.role:
            level = max(level, 1)
    if not seen:
        return INTERNAL
    return SENSITIVITY_ORDER[level]


# Lifecycle: action -> (allowed from, to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "submit": (frozenset({"draft"}), "in_review"),
    "approve": (frozenset({"in_review"}), "approved"),
    "return": (frozenset({"in_review"}), "draft"),
    "reopen": (frozenset({"approved", "retired"}), "draft"),
    "retire": (frozenset({"draft", "in_review", "approved"}), "retired"),
}


def transition_target(action: str, status: str) -> str | None:
    """The status ``action`` leads to from ``status``, or None if it is not allowed.
    A retired dataset can only be reopened (to draft), so approving it again always takes a
    new review."""
    allowed, target = TRANSITIONS[action]
    return target if status in allowed else None
