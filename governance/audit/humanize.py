"""History that people read: ledger entries with field labels instead of column names, names
instead of ids, choice labels instead of codes, and no noise (related managers, empty → empty).

``readable(entries)`` resolves every id of every entry with one query per related model, so a
history page's query count does not grow with its rows. The ledger itself stays as recorded;
this only changes how it is shown."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db import models

EMPTY = {"", "None", "null", "[]", "{}"}


@dataclass
class Change:
    label: str
    before: str
    after: str


@dataclass
class Readable:
    entry: object
    what: str
    target: str
    changes: list[Change] = field(default_factory=list)
    details: str = ""


def _event_label(event: str) -> str:
    app, _, verb = (event or "").partition(".")
    if app == "model":
        return {"created": "Created", "updated": "Changed", "deleted": "Deleted"}.get(verb, verb)
    return (verb or app).replace("_", " ").capitalize()


def _model_field(entry, name):
    model = entry.content_type.model_class() if entry.content_type_id else None
    if model is None:
        return None
    try:
        return model._meta.get_field(name)
    except Exception:
        return None


def _is_manager_noise(value: str) -> bool:
    # auditlog writes a related manager as "app.Model.None"
    return isinstance(value, str) and value.endswith(".None") and value.count(".") >= 2


def readable(entries) -> list[Readable]:
    entries = list(entries)
    # First pass: which ids of which related models appear.
    wanted: dict[type[models.Model], set[str]] = defaultdict(set)
    for entry in entries:
        for name, values in (entry.changes_dict or {}).items():
            model_field = _model_field(entry, name)
            if isinstance(model_field, models.ForeignKey):
                for value in values:
                    if value not in EMPTY and str(value).isdigit():
                        wanted[model_field.related_model].add(str(value))
    names: dict[tuple[type, str], str] = {}
    for model, ids in wanted.items():
        for obj in model._base_manager.filter(pk__in=ids):
            label = getattr(obj, "username", None) or getattr(obj, "key", None) or str(obj)
            names[(model, str(obj.pk))] = label
    rows = []
    for entry in entries:
        changes = []
        for name, values in (entry.changes_dict or {}).items():
            before, after = [*values, "", ""][:2]
            if _is_manager_noise(before) or _is_manager_noise(after):
                continue
            if str(before) in EMPTY and str(after) in EMPTY:
                continue
            model_field = _model_field(entry, name)
            if name == "id" or getattr(model_field, "primary_key", False):
                continue  # a row's own id tells a reader nothing
            label = name.replace("_", " ").capitalize()
            if model_field is not None:
                label = str(getattr(model_field, "verbose_name", name)).capitalize()
            changes.append(
                Change(label, _show(model_field, before, names), _show(model_field, after, names))
            )
        data = entry.additional_data if isinstance(entry.additional_data, dict) else {}
        details = "; ".join(
            f"{key.replace('_', ' ')}: {value}"
            for key, value in data.items()
            if value not in (None, "", [], {}) and key not in ("from", "to", "message")
        )
        rows.append(
            Readable(
                entry=entry,
                what=_event_label(entry.event),
                target=(entry.object_repr or "")[:60],
                changes=changes,
                details=details[:300],
            )
        )
    return rows


def _show(model_field, value, names) -> str:
    value = "" if value is None else str(value)
    if value in EMPTY:
        return "—"
    if isinstance(model_field, models.ForeignKey):
        return names.get((model_field.related_model, value), f"#{value}")
    if model_field is not None and getattr(model_field, "choices", None):
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(model_field, models.BooleanField):
        return {"True": "yes", "False": "no"}.get(value, value)
    if isinstance(model_field, models.JSONField):
        return _summary(value)
    return value[:120]


def _summary(value: str) -> str:
    """A stored document (a snapshot, a list of conditions) in a few words: how many items and
    their names where they have one, instead of its raw text. auditlog stores JSON fields as
    Python's repr or as JSON; either is read without evaluating anything."""
    import ast
    import json

    try:
        document = json.loads(value)
    except ValueError:
        try:
            document = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return value[:120]
    if isinstance(document, list):
        names = [
            str(item.get("name") or item.get("key") or item.get("slug") or "")
            for item in document
            if isinstance(item, dict)
        ]
        names = [n for n in names if n]
        if names and len(names) == len(document):
            shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
            return f"{len(document)} field{'s' if len(document) != 1 else ''}: {shown}"
        if all(isinstance(item, str | int | float) for item in document):
            return ", ".join(str(item) for item in document[:8])[:120] or "—"
        return f"{len(document)} item{'s' if len(document) != 1 else ''}"
    if isinstance(document, dict):
        return f"{len(document)} entr{'ies' if len(document) != 1 else 'y'}"
    return str(document)[:120]
