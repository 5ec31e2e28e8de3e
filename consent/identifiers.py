"""Formats the registry accepts for subjects, taxonomy keys and evidence, and the one-way
hashing of evidence.

Subjects are referred to by pseudonymous ids given by the source system. An id that looks like
a direct identifier (an email address, a phone number) is refused with a message saying so:
the registry must never become a list of who consented to what by name or number.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime

from django.utils.crypto import salted_hmac

NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
# The catalog's taxonomy keys (dotted paths such as user.contact.email); stored as keys so this
# app needs no import of the catalog.
TAXONOMY_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
LABEL = re.compile(r"^[a-z][a-z0-9_]*$")
_PHONE_CHARACTERS = re.compile(r"^\+?[0-9 ().\-/]+$")
_PHONE_SEPARATOR = re.compile(r"[ ().\-/]")

DEFAULT_NAMESPACE = "default"

MSG_SUBJECT_EMAIL = (
    "This subject id looks like an email address. Refer to subjects by a pseudonymous id "
    "from the source system (for example a customer number or a UUID), never by a direct "
    "identifier."
)
MSG_SUBJECT_PHONE = (
    "This subject id looks like a phone number. Refer to subjects by a pseudonymous id "
    "from the source system (for example a customer number or a UUID), never by a direct "
    "identifier."
)
MSG_SUBJECT_FORMAT = (
    "A subject id is 1-128 characters of letters, digits and . _ : -, starting with a letter "
    "or digit."
)
MSG_NAMESPACE_FORMAT = (
    "A namespace is 1-64 characters of lowercase letters, digits and . _ -, starting with a "
    "letter or digit (for example 'shop' or 'crm')."
)
MSG_TAXONOMY_KEY = (
    "'{key}' is not a data category key: use the catalog's dotted keys such as "
    "user.contact.email (lowercase letters, digits and underscores, separated by dots)."
)
MSG_LABEL = (
    "'{label}' is not a valid label: use lowercase letters, digits and underscores, starting "
    "with a letter (for example customer or employee)."
)


def looks_like_email(value: str) -> bool:
    return "@" in value


def looks_like_phone_number(value: str) -> bool:
    """Seven to fifteen digits (E.164 allows 15) written as a phone number: with a leading + or
    an international 00 prefix, or with the separators people type (spaces, dashes, dots,
    parentheses). A plain run of digits passes: numeric customer numbers are pseudonymous."""
    if not _PHONE_CHARACTERS.match(value):
        return False
    digits = sum(c.isdigit() for c in value)
    if not 7 <= digits <= 15:
        return False
    return (
        value.startswith("+")
        or re.match(r"^00[1-9]", value) is not None
        or _PHONE_SEPARATOR.search(value) is not None
    )


def subject_id_problem(value: str) -> str | None:
    """The message to show for an unacceptable subject id, or None when it is acceptable."""
    value = value or ""
    if looks_like_email(value):
        return MSG_SUBJECT_EMAIL
    if looks_like_phone_number(value.strip()):
        return MSG_SUBJECT_PHONE
    if not EXTERNAL_ID.match(value):
        return MSG_SUBJECT_FORMAT
    return None


# Many ids at once (the filter takes up to 100,000): one regex pass over the ids joined by
# newlines proves that every id has the format (and so no @); only ids made of phone-number
# characters can still be refused, and those few go through subject_id_problem.
# (Both patterns are the single-id ones above, applied line by line.)
_EXTERNAL_ID_LINES = re.compile(
    f"(?:{EXTERNAL_ID.pattern.removeprefix('^').removesuffix('$')}\\n)*"
)
_PHONE_LINES = re.compile(_PHONE_CHARACTERS.pattern, re.MULTILINE)


def subject_id_problems(values: list[str]) -> list[tuple[int, str]]:
    """(index, message) for every unacceptable id of ``values``, in order: exactly what
    ``subject_id_problem`` says of each, computed without a Python call per id when the ids
    are plain (the rule itself stays in ``subject_id_problem``)."""
    try:
        joined = "\n".join(values) + "\n"
    except TypeError:  # not all strings: one by one
        joined = ""
    # An id holding a newline would split into two lines: counted, and then one by one.
    if joined and joined.count("\n") == len(values) and _EXTERNAL_ID_LINES.fullmatch(joined):
        candidates, line, position = [], 0, 0
        for match in _PHONE_LINES.finditer(joined):
            line += joined.count("\n", position, match.start())
            position = match.start()
            candidates.append(line)
    else:
        candidates = range(len(values))
    return [
        (index, problem) for index in candidates if (problem := subject_id_problem(values[index]))
    ]


def namespace_problem(value: str) -> str | None:
    return None if NAMESPACE.match(value or "") else MSG_NAMESPACE_FORMAT


def taxonomy_key_problems(keys: list[str]) -> list[str]:
    return [MSG_TAXONOMY_KEY.format(key=key) for key in keys if not TAXONOMY_KEY.match(key)]


def label_problems(labels: list[str]) -> list[str]:
    return [MSG_LABEL.format(label=label) for label in labels if not LABEL.match(label)]


def evidence_digest(kind: str, value: str) -> str:
    """A keyed one-way hash (HMAC-SHA256 under a key derived from SECRET_KEY) of a user agent
    or client address. Keyed, because a plain SHA-256 of an IPv4 address is reversed by trying
    all four billion of them. The same input gives the same digest while SECRET_KEY stays the
    same, so two events from one device can be matched without keeping the address."""
    return salted_hmac(f"consent.evidence.{kind}", value, algorithm="sha256").hexdigest()


def subject_digest(namespace: str, external_id: str, *, secret: str | None = None) -> str:
    """A keyed one-way hash (HMAC-SHA256 under a key derived from SECRET_KEY) of a subject, for
    records that must recognise a subject again without keeping the id: closed erasure and
    access requests. Keyed, because ids are short and guessable (a plain SHA-256 of
    ``shop:c-1`` is found by trying ids). ``secret`` defaults to SECRET_KEY; pass an entry of
    SECRET_KEY_FALLBACKS to match a digest made before a key rotation."""
    return salted_hmac(
        "governance.subject", f"{namespace}:{external_id}", secret=secret, algorithm="sha256"
    ).hexdigest()


def subject_digests(namespace: str, external_id: str) -> list[str]:
    """The subject's digest under SECRET_KEY and under every SECRET_KEY_FALLBACKS entry."""
    from django.conf import settings

    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [subject_digest(namespace, external_id, secret=key) for key in keys]


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus calendar months; the 31st becomes the last day of a shorter month."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def canonical_subject(namespace: str, external_id: str) -> str:
    """The line a subject contributes to an answer's hash (see ``answer_digest``)."""
    return f"{namespace}:{external_id}\n"


def canonical_subjects(namespace: str, external_ids: list[str]) -> str:
    """``canonical_subject`` of each id of one namespace, concatenated (the same lines)."""
    if not external_ids:
        return ""
    prefix = f"\n{namespace}:"
    return f"{namespace}:" + prefix.join(external_ids) + "\n"
