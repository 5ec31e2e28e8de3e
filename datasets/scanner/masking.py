"""Masked examples: enough of a value's shape for a person to recognise the kind of data,
never the value itself. Identifiers reveal at most their last four digits (as printed receipts
do) and never a run of more than four of their digits; dates and coordinates are generalised."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

_DIGIT = re.compile(r"\d")
_SHAPE_LIMIT = 24


def mask_email(value: str) -> str:
    """``jane.doe@example.com`` → ``j***@e***.com``."""
    local, _, domain = value.strip().rpartition("@")
    host, dot, tld = domain.rpartition(".")
    if not dot:
        host, tld = domain, ""
    masked_domain = f"{host[:1]}***" + (f".{_letters(tld)}" if tld else "")
    return f"{local[:1]}***@{masked_domain}"


def mask_card(value: str) -> str:
    """``4111111111111111`` → ``4111 **** **** 1111``: the issuer prefix and the last four."""
    digits = "".join(_DIGIT.findall(value))
    if len(digits) < 12:
        return mask_identifier(value)
    hidden = len(digits) - 8
    groups = [digits[:4], *["****"] * (hidden // 4)]
    if hidden % 4:
        groups.append("*" * (hidden % 4))
    return " ".join([*groups, digits[-4:]])


def mask_ssn(value: str) -> str:
    """``536-22-8726`` → ``***-**-8726``."""
    digits = "".join(_DIGIT.findall(value))
    return f"***-**-{digits[-4:]}" if len(digits) == 9 else mask_identifier(value)


def mask_iban(value: str) -> str:
    """``DE89 3704 0044 0532 0130 00`` → ``DE** **** **** **** **30 00``: country and last four."""
    compact = re.sub(r"\s+", "", value).upper()
    if len(compact) < 8:
        return mask_identifier(value)
    hidden = compact[:2] + "*" * (len(compact) - 6) + compact[-4:]
    return " ".join(hidden[i : i + 4] for i in range(0, len(hidden), 4))


def mask_phone(value: str) -> str:
    """``+1 (415) 555-2671`` → ``+* (***) ***-**71``: separators kept, all but two digits hidden."""
    text = value.strip()
    positions = [i for i, char in enumerate(text) if char.isdigit()]
    keep = set(positions[-2:]) if len(positions) >= 7 else set()
    return "".join(char if not char.isdigit() or i in keep else "*" for i, char in enumerate(text))


def mask_identifier(value: str) -> str:
    """Any identifier: every character hidden except the last two (four hidden at least)."""
    compact = value.strip()
    shown = compact[-2:] if len(compact) >= 6 else ""
    return "*" * max(len(compact) - len(shown), 4) + shown


def mask_ip(value: str) -> str:
    """``203.0.113.7`` → ``203.0.*.*``; ``2001:db8::1`` → ``2001:db8:*:*``."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return mask_identifier(value)
    if address.version == 4:
        first, second, *_ = str(address).split(".")
        return f"{first}.{second}.*.*"
    groups = address.exploded.split(":")
    return f"{groups[0].lstrip('0') or '0'}:{groups[1].lstrip('0') or '0'}:*:*"


def mask_date(value: str) -> str:
    """A date generalised to its year: ``1985-03-02`` → ``1985-**-**``."""
    match = re.search(r"\b(1[89]\d\d|2\d\d\d)\b", value)
    return f"{match[1]}-**-**" if match else shape(value)


def mask_postal_code(value: str) -> str:
    """``94107`` → ``94***``; ``SW1A 1AA`` → ``SW** ***``: the area, not the street."""
    compact = value.strip()
    if sum(char.isalnum() for char in compact) <= 3:
        # Too short to keep an area: two kept characters would be most of the value.
        return re.sub(r"[A-Za-z0-9]", "*", compact)
    return compact[:2] + re.sub(r"[A-Za-z0-9]", "*", compact[2:])


def generalize_coordinates(value: str) -> str:
    """``52.52008, 13.40495`` → ``52.5, 13.4`` (about 11 km)."""
    numbers = re.findall(r"-?\d+(?:\.\d+)?", value)
    if len(numbers) != 2:
        return shape(value)
    return ", ".join(f"{float(number):.1f}" for number in numbers)


def generalize_number(value: str) -> str:
    """A single latitude or longitude to one decimal."""
    try:
        return f"{float(value):.1f}"
    except ValueError:
        return shape(value)


def generalize_age(value: str) -> str:
    """``34`` → ``30-39``."""
    try:
        decade = int(float(value)) // 10 * 10
    except ValueError:
        return shape(value)
    return f"{decade}-{decade + 9}"


def mask_name(value: str) -> str:
    """``Jane Doe`` → ``J*** D***``: initials only."""
    return " ".join(f"{word[:1]}***" for word in value.split()) or "***"


def describe_text(value: str) -> str:
    """Free text is never quoted, not even in part."""
    words = len(value.split())
    return f"[text, {words} word{'' if words == 1 else 's'}]"


def shape(value: str) -> str:
    """The format without the content: letters become ``x``/``X``, digits ``#``, so a person can
    tell ``###-##-####`` from ``Xxxxx``; long values are cut."""
    out = []
    for char in value.strip()[:_SHAPE_LIMIT]:
        if char.isdigit():
            out.append("#")
        elif char.isalpha():
            out.append("X" if char.isupper() else "x")
        else:
            out.append(char)
    return "".join(out) + ("…" if len(value.strip()) > _SHAPE_LIMIT else "")


def _letters(text: str) -> str:
    return text if text.isalpha() else "***"


MASKERS: dict[str, Callable[[str], str]] = {
    "email": mask_email,
    "card": mask_card,
    "ssn": mask_ssn,
    "iban": mask_iban,
    "phone": mask_phone,
    "identifier": mask_identifier,
    "ip": mask_ip,
    "date": mask_date,
    "postal_code": mask_postal_code,
    "coordinates": generalize_coordinates,
    "number": generalize_number,
    "age": generalize_age,
    "name": mask_name,
    "text": describe_text,
    "shape": shape,
    "withheld": lambda value: "[withheld]",  # special categories never show examples
}

# Maskers for a category when no value detector fired (the column name alone decided).
CATEGORY_MASKERS: dict[str, str] = {
    "user.contact.email": "email",
    "user.contact.phone_number": "phone",
    "user.contact.address.postal_code": "postal_code",
    "user.financial.credit_card": "card",
    "user.financial.bank_account": "iban",
    "user.government_id": "identifier",
    "user.unique_id": "identifier",
    "user.account": "identifier",
    "user.device": "identifier",
    "user.name": "name",
    "user.demographic.date_of_birth": "date",
    "user.demographic.age_range": "age",
    "user.location.precise": "coordinates",
    "user.content": "text",
    "user.contact.address.city": "name",
    "user.contact.address.state": "name",
    "user.contact.address.country": "name",
    "user.contact.address": "text",
}


def masker_for_category(category: str) -> Callable[[str], str]:
    """The most specific masker registered for the category or one of its ancestors."""
    key = category
    while key:
        if key in CATEGORY_MASKERS:
            return MASKERS[CATEGORY_MASKERS[key]]
        key = key.rpartition(".")[0]
    return shape
