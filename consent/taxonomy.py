"""The data-category taxonomy as purposes see it.

The catalog owns the taxonomy (``datasets.DataCategory``); consent and datasets do not import
each other, so the catalog offers it through ``taxonomy_provider`` on its AppConfig. A purpose
names categories by key: an unknown key is refused, and a purpose covering a special category
(GDPR Art. 9, or Art. 10 criminal-offence data) must say so — checked at submission."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from django.apps import apps
from django.utils.module_loading import import_string


class Entry(NamedTuple):
    key: str
    name: str
    special: str


MSG_UNKNOWN_CATEGORY = (
    "Unknown data category {keys}: choose categories of the catalog's taxonomy "
    "(an administrator can add one)."
)
MSG_SPECIAL_NOT_DECLARED = (
    "{keys} {verb} special categories of data (Art. 9/10): tick 'Processes special "
    "categories', name the Art. 9(2) condition and the DPIA, or remove {them}."
)
MSG_SPECIAL_WITHOUT_CATEGORY = (
    "The purpose says it processes special categories, but none of its data categories is "
    "one (e.g. user.health_and_medical): add the special categories it uses, or untick the box."
)


def entries() -> list[Entry]:
    """The whole taxonomy, sorted by key (one query); empty when no app provides one."""
    found: list[Entry] = []
    for app_config in apps.get_app_configs():
        provider = getattr(app_config, "taxonomy_provider", None)
        if provider:
            found.extend(Entry(*row) for row in import_string(provider)())
    return sorted(found)


def category_names(keys: Iterable[str]) -> dict[str, str]:
    known = {entry.key: entry.name for entry in entries()}
    return {key: known.get(key, "") for key in keys}


def unknown_keys(keys: Iterable[str], known: list[Entry] | None = None) -> list[str]:
    names = {entry.key for entry in (known if known is not None else entries())}
    return [key for key in keys if key not in names]


def art9_problem(keys: Iterable[str], *, declared: bool) -> str | None:
    """A purpose's special-category flag must match its categories: every special category
    it names is declared, and a declared purpose names at least one category that is (or
    contains) a special category."""
    keys = list(keys)
    known = entries()
    special = [e.key for e in known if e.special and e.key in keys]
    if special and not declared:
        many = len(special) > 1
        return MSG_SPECIAL_NOT_DECLARED.format(
            keys=", ".join(special), verb="are" if many else "is", them="them" if many else "it"
        )
    if declared and not any(
        e.special and (e.key == key or e.key.startswith(f"{key}.")) for e in known for key in keys
    ):
        return MSG_SPECIAL_WITHOUT_CATEGORY
    return None
