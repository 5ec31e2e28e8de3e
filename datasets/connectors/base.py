"""The interface every retention connector implements: the code that knows how to reach the
store where a dataset lives, count what a deletion would touch, and delete (or anonymise) it
in small, journaled batches.

The retention app (``governance/retention``) drives a connector like this::

    connector.check(criteria, operation)          # reachable? the shape the catalog says?
    for batch in connector.plan(criteria, operation, batch_size=...):
        journal(batch)                            # committed in the registry first
        holds = read_holds()                      # under the hold lock, until apply returns
        changed = connector.apply(batch, criteria)  # one short transaction / atomic rename
        journal_done(batch, changed)
    assert connector.remaining(criteria, operation) == 0   # post-deletion verification

``plan`` is lazy and reads the store's *current* state for each batch, so a batch is always
planned after the previous one was applied. After a crash the runner asks ``applied(batch)``
for the batch that was journaled but not marked done: if it was applied the runner counts it,
otherwise it calls ``discard(batch)`` and plans again. That is how a run resumes without
deleting twice or losing track (the rows of an applied batch no longer match, the rows of an
unapplied one are simply planned again). When a hold is placed mid-run, the runner discards
the planned batch the same way and plans again with the held subjects kept.

Rules every connector keeps:
- nothing is changed by ``check``, ``preview``, ``plan``, ``remaining`` or ``discard`` (``plan``
  may prepare scratch files beside the data, which ``apply`` renames into place and
  ``discard`` removes);
- ``apply`` is all-or-nothing for its batch;
- a row of a subject in ``criteria.keep_subject_ids`` (a legal hold) is never touched, and
  ``apply`` repeats the criteria it is given (SQL: in the DELETE/UPDATE's WHERE);
- errors a person can fix (unreachable store, missing column, a file that is not what the
  dataset says) are raised as ``ConnectorError`` with a message naming the problem, never
  with a password or a row's values in it.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

MSG_NO_READ = "The {kind} connector cannot read a subject's rows."

DELETE = "delete"
ANONYMIZE = "anonymize"
OPERATIONS = (DELETE, ANONYMIZE)


class ConnectorError(Exception):
    """A problem a person can act on. ``code`` is one of: ``unreachable`` (cannot connect or
    the location does not exist), ``forbidden`` (outside the configured roots / no
    permission), ``mismatch`` (the store is not what the catalog says: wrong format, missing
    column, unparseable event time, no usable primary key), ``unsupported`` (operation or
    criteria this connector cannot do), ``failed`` (the store refused a change)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Layout:
    """What the catalog says about the columns a connector needs."""

    subject_field: str = ""
    event_time_field: str = ""
    # Columns emptied by ANONYMIZE (the direct identifiers and the subject id).
    identifier_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Criteria:
    """Which rows an operation touches. A row matches when
    (``everything`` or its event time < ``older_than`` or its subject is in ``subject_ids``)
    and its subject is not in ``keep_subject_ids``. Rows with an empty event time are not
    matched by age; rows with an empty subject id are not matched by subject.
    For ANONYMIZE a matching row counts only while one of its identifier fields is still set
    (so a second run anonymises nothing more)."""

    older_than: datetime | None = None
    subject_ids: frozenset[str] = field(default_factory=frozenset)
    everything: bool = False
    keep_subject_ids: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_empty(self) -> bool:
        return not (self.everything or self.older_than is not None or self.subject_ids)

    def digest(self) -> str:
        """A fingerprint of exactly these criteria (batches planned under other criteria,
        e.g. before a hold, are told apart by it)."""
        document = [
            self.everything,
            self.older_than.isoformat() if self.older_than else None,
            sorted(self.subject_ids),
            sorted(self.keep_subject_ids),
        ]
        return hashlib.sha256(json.dumps(document).encode()).hexdigest()

    def describe(self) -> dict:
        """For certificates and the ledger: never the subject ids themselves."""
        return {
            "everything": self.everything,
            "older_than": self.older_than.isoformat() if self.older_than else None,
            "subjects": len(self.subject_ids),
            "held_subjects": len(self.keep_subject_ids),
        }


@dataclass(frozen=True)
class Preview:
    """What an operation would touch now, without touching it."""

    rows: int = 0
    files: int = 0  # files that would be deleted whole (file connectors)
    oldest: datetime | None = None  # earliest event time among the matching rows
    subjects: int = 0  # distinct subject ids among the matching rows


@dataclass(frozen=True)
class Batch:
    """One unit of change, journaled before it is applied. ``payload`` must be JSON-able and
    hold everything ``apply``/``applied``/``discard`` need (it survives a crash)."""

    payload: dict
    rows: int
    files: int = 0


class Connector(ABC):
    """Base class; see the module docstring for the protocol."""

    #: Operations this connector can perform.
    operations: frozenset[str] = frozenset({DELETE})
    #: Short label for certificates, e.g. "postgres_table".
    kind: str = ""

    def __init__(self, *, location: str, layout: Layout, options: dict | None = None) -> None:
        self.location = location
        self.layout = layout
        self.options = dict(options or {})

    def supports(self, operation: str) -> bool:
        return operation in self.operations

    @abstractmethod
    def check(self, criteria: Criteria, operation: str = DELETE) -> None:
        """Raise ConnectorError unless the store is reachable, has the columns ``criteria``
        needs, and every value those columns hold can be read. Changes nothing."""

    @abstractmethod
    def preview(self, criteria: Criteria, operation: str = DELETE) -> Preview:
        """Counts of what ``operation`` under ``criteria`` would touch now."""

    @abstractmethod
    def plan(self, criteria: Criteria, operation: str, *, batch_size: int) -> Iterator[Batch]:
        """Yield batches of at most ``batch_size`` rows (file connectors: one file per batch),
        reading the current state each time; the caller applies each batch before asking for
        the next. Yields nothing when nothing matches."""

    @abstractmethod
    def apply(self, batch: Batch, criteria: Criteria) -> int:
        """Apply one batch atomically, touching only the batch's rows that still match
        ``criteria`` (the runner passes the criteria in force now: a subject held since the
        batch was planned is in ``keep_subject_ids``); return the number of rows changed. A
        connector that cannot repeat the criteria at apply time refuses a batch planned under
        other criteria (ConnectorError) so the runner plans it again."""

    @abstractmethod
    def applied(self, batch: Batch, criteria: Criteria) -> int | None:
        """After a crash: None when this journaled batch was not applied (the runner
        discards it and plans again), else the number of rows it changed."""

    def discard(self, batch: Batch) -> None:  # noqa: B027 - optional hook
        """Forget a planned batch that was not applied (remove scratch files)."""

    @abstractmethod
    def remaining(self, criteria: Criteria, operation: str = DELETE) -> int:
        """Post-deletion verification: how many rows still match (0 after a complete run)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections or handles; the runner calls it when it is done."""

    def verification_method(self, operation: str = DELETE) -> str:
        """A sentence for the certificate saying how ``remaining`` was established."""
        return "re-read of the store"

    def read_subject(
        self, subject_ids: frozenset[str], *, limit: int
    ) -> Iterator[tuple[str, dict]]:
        """Read-only, for subject access (GDPR Art. 15): every row whose subject-id field holds
        one of ``subject_ids``, as ``(where, {column: value})`` (``where`` names the table or
        the file), at most ``limit`` rows. Changes nothing. A connector that cannot read rows
        raises ConnectorError("unsupported")."""
        raise ConnectorError("unsupported", MSG_NO_READ.format(kind=self.kind or "this store"))
