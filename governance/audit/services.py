"""Writes to the ledger. Call ``record`` inside the transaction of the change it describes,
so the event and the change commit or roll back together."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from governance.audit import context
from governance.audit.models import EVENT_NAME, LedgerEntry


def record(
    *,
    action: str,
    target: models.Model | None = None,
    actor: Any = None,
    data: dict[str, Any] | None = None,
    object_repr: str | None = None,
) -> LedgerEntry:
    """Append one domain event. ``actor`` defaults to the request's authenticated caller;
    pass it explicitly from tasks and commands. ``data`` must be JSON-serialisable and must
    not contain secrets or direct identifiers of data subjects."""
    if not EVENT_NAME.match(action):
        raise ValueError(f"event name {action!r} must look like 'area.verb' (lowercase, dots)")
    if actor is None:
        actor = context.current_actor()
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    payload = json.loads(json.dumps(data or {}, cls=DjangoJSONEncoder))
    fields: dict[str, Any] = {
        "action": LedgerEntry.Action.EVENT,
        "event": action,
        "actor": actor,
        "additional_data": payload,
        "cid": context.get_request_id(),
        "remote_addr": context.current_remote_addr(),
        "object_repr": (object_repr if object_repr is not None else "")[:1000],
    }
    if target is not None:
        fields["content_type"] = ContentType.objects.get_for_model(target)
        fields["object_pk"] = str(target.pk)
        if isinstance(target.pk, int):
            fields["object_id"] = target.pk
        if object_repr is None:
            fields["object_repr"] = str(target)[:1000]
    return LedgerEntry.objects.create(**fields)


def record_refusal(event: str, error, *, target=None, actor=None, data=None) -> LedgerEntry:
    """Record that ``actor`` was refused (an ApplicationError), in its own transaction: the
    refused change rolled back, the refusal stays. Marks the error as recorded, so a caller
    further up does not record it twice."""
    from django.db import transaction

    with transaction.atomic():
        entry = record(
            action=event,
            target=target,
            actor=actor,
            data={
                "code": error.code,
                "message": error.message,
                "details": {
                    k: v for k, v in error.extra.items() if isinstance(v, str | int | list)
                },
                **(data or {}),
            },
        )
    error.recorded = True
    return entry


def records_refusal(event: str, *, target: str | None = None, actor: str = "actor"):
    """Decorate a service so that a refused call (an ApplicationError: bad input, not
    permitted, conflict) is itself recorded, as ``event``, after the service's own transaction
    rolled back — nothing the service did survives, but the refusal does.

    ``target`` and ``actor`` name the service's keyword arguments holding them."""
    from functools import wraps

    from governance.errors import ApplicationError

    def decorate(function):
        @wraps(function)
        def wrapper(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except ApplicationError as error:
                record_refusal(
                    event,
                    error,
                    target=kwargs.get(target) if target else None,
                    actor=kwargs.get(actor),
                )
                raise

        return wrapper

    return decorate
