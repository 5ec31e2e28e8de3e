"""``governed_read``: what a training job does before it trains, in one call, and the run
manifest that proves it afterwards.

1. **check** — deny raises AccessDenied; the lease is verified against the published keys;
2. **consent filter** — only rows whose subject had valid consent at the decision's snapshot
   (asked in batches, at the snapshot's namespace, as_of and known_at);
3. **field obligations** — drop, mask, generalize, pseudonymize (the purpose's key);
4. **budget claim** — when the dataset requires differential privacy, ``epsilon`` (and
   ``delta``) are locked; rows outside the claimed data blocks are left out.

The manifest (``governance-manifest.json`` next to the training output) records the lease and
the keys that verify it, the decision, the consent snapshot and the digest of the subjects
kept, the budget claim and the dataset version. With MLflow installed and a run active, the
same manifest is logged to the run (``governance/manifest.json``) with tags.

Use it as a context manager: leaving the block normally commits the budget claim (results
computed with it may now be released); an exception releases it. Either way the manifest is
rewritten with the claim's final status."""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from governance_client import __version__
from governance_client.decision import (
    BudgetClaim,
    Decision,
    FilterResult,
    bound_to_lease,
    lease_terms,
)
from governance_client.errors import (
    CommitFailed,
    GovernanceError,
    LeaseInvalid,
    LeaseMismatch,
    ObligationError,
)
from governance_client.leases import ANY_AUDIENCE
from governance_client.obligations import (
    _kind,
    apply_obligations,
    column_values,
    keep_rows,
)
from governance_client.pseudonyms import PurposeKeys

MANIFEST_NAME = "governance-manifest.json"
MANIFEST_VERSION = 1


def subjects_digest(namespace: str, ids) -> str:
    """SHA-256 over ``namespace:id\\n`` of the sorted ids: the registry's answer digest."""
    digest = hashlib.sha256()
    for value in sorted(ids):
        digest.update(f"{namespace}:{value}\n".encode())
    return digest.hexdigest()


def fingerprint(table) -> str:
    """A SHA-256 of the table as read (before any treatment), the dataset version's
    content half."""
    kind = _kind(table)
    digest = hashlib.sha256()
    if kind == "pandas":
        import pandas as pd

        digest.update(",".join(map(str, table.columns)).encode())
        digest.update(pd.util.hash_pandas_object(table, index=False).values.tobytes())
    elif kind == "arrow":
        import pyarrow as pa

        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        digest.update(sink.getvalue().to_pybytes())
    else:
        for row in table:
            digest.update(json.dumps(row, sort_keys=True, default=str).encode() + b"\n")
    return digest.hexdigest()


def _row_count(table) -> int:
    return table.num_rows if _kind(table) == "arrow" else len(table)


def _parse_time(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class GovernedRead:
    """The governed table and what made it so."""

    data: Any
    decision: Decision
    lease_claims: dict
    consent: FilterResult | None
    claim: BudgetClaim | None
    keys: PurposeKeys | None
    manifest: dict
    manifest_path: Path
    client: Any = field(repr=False, default=None)

    def __enter__(self) -> GovernedRead:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            if self.claim is not None and self.claim.status == "locked":
                try:
                    self.commit()
                except CommitFailed:
                    self._finish("commit_failed")
                    raise
            self._finish("complete")
            return
        if self.claim is not None and self.claim.status == "locked":
            try:
                self.release()
            except GovernanceError as error:
                # Keep the job's own exception: it is what went wrong. The claim's lock will
                # lapse back into the budget by itself.
                if isinstance(exc, BaseException):
                    exc.add_note(
                        f"governance: budget claim {self.claim.id} could not be released "
                        f"({error}); its lock lapses at {self.claim.lock_expires_at}."
                    )
        self._finish("failed")

    def _finish(self, status: str) -> None:
        self.manifest["status"] = status
        write_manifest(self.manifest, self.manifest_path)
        log_to_mlflow(self.manifest)

    def pseudonymize(self, value) -> str | None:
        if self.keys is None:
            raise ObligationError("this read pseudonymizes nothing: no purpose key was fetched")
        return self.keys.pseudonymize(value)

    def commit(self) -> None:
        """The results computed with the claimed budget are released: spend it for good."""
        if self.claim is not None:
            self.claim = self.client.commit_claim(self.claim)
            self._budget_status()

    def release(self) -> None:
        """Nothing computed with the claim was released: give the budget back."""
        if self.claim is not None:
            self.claim = self.client.release_claim(self.claim)
            self._budget_status()

    def _budget_status(self) -> None:
        self.manifest["budget"]["status"] = self.claim.status
        write_manifest(self.manifest, self.manifest_path)
        log_to_mlflow(self.manifest)


def write_manifest(manifest: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    temporary.replace(path)
    return path


def log_to_mlflow(manifest: dict) -> bool:
    """Log the manifest to the active MLflow run, if MLflow is installed and a run is active."""
    try:
        import mlflow
    except ImportError:
        return False
    if mlflow.active_run() is None:
        return False
    mlflow.log_dict(manifest, "governance/manifest.json")
    tags = {
        "governance.decision_id": manifest["decision"]["decision_id"],
        "governance.dataset": manifest["dataset"],
        "governance.purpose": manifest["purpose"],
    }
    if manifest.get("consent"):
        tags["governance.consent_snapshot"] = manifest["consent"]["snapshot"]["id"]
    if manifest.get("budget"):
        tags["governance.budget_claim"] = manifest["budget"]["claim"]
        tags["governance.budget_status"] = manifest["budget"]["status"]
    mlflow.set_tags(tags)
    return True


def _blocks_filter(table, decision: Decision, claim: BudgetClaim):
    budget = decision.privacy_budget
    if not budget or not budget.block_days or not budget.event_time_field:
        return table
    if budget.blocks_start is None:
        raise ObligationError("the budget names data blocks but not when they start")
    length = timedelta(days=budget.block_days)
    ranges = [
        (budget.blocks_start + i * length, budget.blocks_start + (i + 1) * length)
        for i in claim.blocks
    ]
    column = budget.event_time_field
    times = [_parse_time(v) for v in column_values(table, column)]
    keep = [t is not None and any(a <= t < b for a, b in ranges) for t in times]
    kind = _kind(table)
    if kind == "pandas":
        return table[keep].reset_index(drop=True)
    if kind == "arrow":
        import pyarrow as pa

        return table.filter(pa.array(keep))
    return [row for row, ok in zip(table, keep, strict=True) if ok]


def governed_read(
    client,
    dataset: str,
    purpose: str,
    source,
    *,
    output_dir: str | Path,
    fields: list[str] | None = None,
    epsilon: float | None = None,
    delta: float = 0.0,
    blocks: list[int] | None = None,
    dataset_version: str | None = None,
    generalizers=None,
    widths=None,
    note: str = "",
) -> GovernedRead:
    """``source`` is the table (pandas, pyarrow or rows) or a function of the Decision that
    reads it (so it can read only ``decision.fields``)."""
    decision = client.check(dataset, purpose, fields)
    lease_claims = client.verify_lease(decision.lease, audience=ANY_AUDIENCE)
    # Apply what the registry signed, not what the (unsigned) body says.
    decision = bound_to_lease(decision, lease_claims)
    table = source(decision) if callable(source) else source
    rows_read = _row_count(table)
    content = fingerprint(table)

    budget = decision.privacy_budget
    if budget is not None and epsilon is None:
        raise ObligationError(
            f"{dataset} may only be read under differential privacy (ε {budget.epsilon} per "
            "block): pass the epsilon (and delta) this run spends"
        )
    claim = None
    try:
        consent = None
        consent_filter = decision.consent_filter
        if consent_filter is not None:
            column = consent_filter.subject_id_field
            if rows_read and column not in _columns(table):
                raise ObligationError(
                    f"the subject-id field {column!r} the consent filter needs is not in the "
                    "table; read it too (it is among decision.fields)"
                )
            values = column_values(table, column) if rows_read else []
            consent = client.filter_subjects(decision, values)
            table = keep_rows(table, column, set(consent.kept))
        keys = None
        if "pseudonymize" in decision.treatments.values():
            keys = client.pseudonym_keys(dataset, purpose)
        if budget is not None:
            claim = client.claim_budget(
                decision, epsilon=epsilon, delta=delta, blocks=blocks, note=note
            )
            table = _blocks_filter(table, decision, claim)
        governed = apply_obligations(
            table, decision, keys=keys, generalizers=generalizers, widths=widths
        )
    except BaseException as failure:
        if claim is not None:
            try:
                client.release_claim(claim)
            except GovernanceError as error:
                failure.add_note(
                    f"governance: budget claim {claim.id} could not be released ({error}); its "
                    f"lock lapses at {claim.lock_expires_at}."
                )
        raise

    manifest = {
        "manifest_version": MANIFEST_VERSION,
        # open while the run trains; complete once its budget claim is committed (or it has
        # none); failed (claim released) or commit_failed (data read, claim not spent).
        "status": "open",
        "created_at": datetime.now(UTC).isoformat(),
        "registry": client.base_url,
        "dataset": dataset,
        "purpose": purpose,
        "decision": {
            "decision_id": decision.decision_id,
            "principal": decision.principal,
            "grant": decision.grant,
            "fields": decision.fields,
            "expires_at": decision.expires_at,
            "obligations": decision.obligations,
        },
        "lease": {
            "token": decision.lease,
            "claims": lease_claims,
            "keys": client.keys(),  # the public keys it verified with, for offline checks
        },
        "consent": None
        if consent is None
        else {
            "snapshot": {
                "id": consent.snapshot.id,
                "as_of": consent.snapshot.as_of,
                "known_at": consent.snapshot.known_at,
                "purpose_version": consent.snapshot.purpose_version,
                "count": consent.snapshot.count,
                "sha256": consent.snapshot.sha256,
            },
            "namespace": consent.namespace,
            "subject_id_field": consent_filter.subject_id_field,
            "filter_snapshots": consent.batch_snapshots,
            "subjects_asked": consent.asked,
            "subjects_kept": len(consent.kept),
            "subjects_kept_sha256": subjects_digest(consent.namespace, consent.kept),
        },
        "budget": None
        if claim is None
        else {
            "claim": claim.id,
            "requirement": budget.requirement,
            "epsilon": claim.epsilon,
            "delta": claim.delta,
            "blocks": claim.blocks,
            "composition": budget.composition,
            "status": claim.status,
        },
        "pseudonymization": None
        if keys is None
        else {"purpose": keys.purpose, "key_version": keys.current},
        "dataset_version": {
            "version": dataset_version,
            "rows_read": rows_read,
            "rows_kept": _row_count(governed),
            "content_sha256": content,
        },
        "client": {
            "name": "governance-client",
            "version": __version__,
            "python": platform.python_version(),
        },
    }
    manifest = json.loads(json.dumps(manifest, default=_json_default))  # plain JSON values
    path = write_manifest(manifest, Path(output_dir) / MANIFEST_NAME)
    log_to_mlflow(manifest)
    return GovernedRead(
        data=governed,
        decision=decision,
        lease_claims=lease_claims,
        consent=consent,
        claim=claim,
        keys=keys,
        manifest=manifest,
        manifest_path=path,
        client=client,
    )


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def _columns(table) -> list[str]:
    kind = _kind(table)
    if kind == "pandas":
        return list(table.columns)
    if kind == "arrow":
        return list(table.column_names)
    return list(dict.fromkeys(name for row in table for name in row))


def verify_manifest(path: str | Path, *, keyset, now: float | None = None):
    """Verify the lease a manifest holds against keys trusted from **outside** the manifest:
    ``keyset`` is a JWK Set you kept (an auditor's copy of the registry's published keys) or a
    ``Client``, whose registry's published keys are fetched. There is no default: the keys the
    job saved in the manifest prove nothing, since whoever forges a lease saves their own key
    beside it. Returns the lease's claims; LeaseInvalid, or LeaseMismatch when the manifest's
    account of the decision differs from its lease. ``now`` defaults to the manifest's
    creation (a lease is verified as of the run, not as of today)."""
    from governance_client.leases import verify_lease

    if hasattr(keyset, "keys") and callable(keyset.keys) and not isinstance(keyset, dict):
        keyset = keyset.keys()  # a Client: the registry's published keys
    if not isinstance(keyset, dict):
        raise TypeError("keyset must be a JWK Set ({'keys': [...]}) or a Client")
    manifest = json.loads(Path(path).read_text())
    lease = manifest["lease"]
    if now is None:
        now = datetime.fromisoformat(manifest["created_at"]).timestamp()
    claims = verify_lease(
        lease["token"],
        keyset,
        audience=ANY_AUDIENCE,
        issuer=lease["claims"]["iss"],
        now=now,
    )
    if claims.get("jti") != manifest["decision"]["decision_id"]:
        raise LeaseInvalid("malformed")
    # The manifest's account of the decision must be the lease's, word for word.
    recorded = manifest["decision"]
    terms = lease_terms(claims)
    differs = [
        name
        for name, value in (
            ("dataset", manifest.get("dataset")),
            ("purpose", manifest.get("purpose")),
            ("fields", recorded.get("fields")),
            ("obligations", recorded.get("obligations")),
        )
        if json.dumps(value, sort_keys=True) != json.dumps(terms[name], sort_keys=True)
    ]
    if differs:
        raise LeaseMismatch(differs)
    return claims
