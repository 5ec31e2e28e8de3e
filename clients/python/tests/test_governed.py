"""governed_read against a fake registry: check, consent filter at the snapshot, obligations,
budget claim; the manifest, committed on success, released on failure, logged to MLflow."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import pytest
from conftest import FakeRegistry
from governance_client import (
    AccessDenied,
    BudgetExceeded,
    Client,
    CommitFailed,
    LeaseInvalid,
    LeaseMismatch,
    ObligationError,
    RegistryUnavailable,
    subjects_digest,
    verify_manifest,
)

SECRET = bytes(range(32))


@pytest.fixture
def world(registry):
    state: dict = {"claims": {}, "filters": []}
    snapshot = {
        "id": "snap-1",
        "purpose_version": 2,
        "as_of": "2026-12-01T00:00:00Z",
        "known_at": "2026-12-01T00:00:00Z",
        "count": None,
        "sha256": None,
    }
    decision = {
        "decision": "allow",
        "decision_id": "dec-1",
        "reasons": [],
        "principal": "service_account:job",
        "dataset": "events",
        "purpose": "churn",
        "grant": 3,
        "fields": ["customer_id", "email", "age", "event_time"],
        "expires_at": "2027-01-01T00:00:00Z",
        "obligations": {
            "fields": {
                "customer_id": "keep",
                "email": "pseudonymize",
                "age": "generalize",
                "event_time": "keep",
            },
            "pseudonymize": {"key_endpoint": "/api/v1/access/pseudonym-keys", "purpose": "churn"},
            "consent_filter": {
                "purpose": "churn",
                "namespace": "shop",
                "subject_id_field": "customer_id",
                "snapshot": snapshot,
                "filter_endpoint": "/api/v1/consent/filter",
                "export_endpoint": "/api/v1/consent/export?snapshot=snap-1",
            },
            "privacy_budget": {
                "requirement": 4,
                "epsilon": 1.0,
                "delta": 0.0,
                "composition": "basic",
                "block_days": 30,
                "blocks_start": "2026-10-01T00:00:00Z",
                "claims_endpoint": "/api/v1/budget/claims",
                "event_time_field": "event_time",
            },
        },
    }

    def check(request):
        # The registry signs what it answers; state["tamper"] rewrites the body afterwards,
        # as a proxy between the job and the registry could.
        lease = registry.lease(
            lease={
                "principal": {"id": "service_account:job"},
                "dataset": "events",
                "purpose": "churn",
                "fields": decision["fields"],
                "obligations": decision["obligations"],
            }
        )
        body = json.loads(json.dumps({**decision, "lease": lease}))
        state.get("tamper", lambda b: None)(body)
        return httpx.Response(200, json=body)

    def consent_filter(request):
        body = json.loads(request.read())
        state["filters"].append(body)
        kept = [i for i in body["subject_ids"] if i != "c-2"]  # c-2 withdrew
        return httpx.Response(
            200, json={"subject_ids": kept, "snapshot": {"id": f"f{len(state['filters'])}"}}
        )

    def keys(request):
        secret = base64.urlsafe_b64encode(SECRET).decode().rstrip("=")
        return httpx.Response(
            200,
            json={
                "purpose": "churn",
                "dataset": "events",
                "keys": [{"version": 1, "secret": secret, "current": True}],
            },
        )

    def claim(request):
        body = json.loads(request.read())
        if body["epsilon"] > 1.0:
            return httpx.Response(
                409,
                json={
                    "error": {
                        "code": "budget_exceeded",
                        "message": "No.",
                        "details": {"remaining": {"0": {"epsilon": 1.0, "delta": 0.0}}},
                    }
                },
            )
        made = {
            "id": "claim-1",
            "dataset": "events",
            "purpose": "churn",
            "epsilon": body["epsilon"],
            "delta": body["delta"],
            "blocks": [1],
            "status": "locked",
            "lock_expires_at": state.get("lock_expires_at", "2026-12-01T01:00:00Z"),
        }
        state["claims"]["claim-1"] = made
        state["claim_body"] = body
        return httpx.Response(201, json=made)

    def settle(status):
        def handler(request):
            state["claims"]["claim-1"] = {**state["claims"]["claim-1"], "status": status}
            return httpx.Response(200, json=state["claims"]["claim-1"])

        return handler

    registry.route("POST", "/api/v1/access/check", check)
    registry.route("POST", "/api/v1/consent/filter", consent_filter)
    registry.route("POST", "/api/v1/access/pseudonym-keys", keys)
    registry.route("POST", "/api/v1/budget/claims", claim)
    registry.route("POST", "/api/v1/budget/claims/claim-1/commit", settle("committed"))
    registry.route("POST", "/api/v1/budget/claims/claim-1/release", settle("released"))
    registry.route(
        "GET",
        "/api/v1/budget/claims/claim-1",
        lambda r: httpx.Response(200, json=state["claims"]["claim-1"]),
    )
    return state


FRAME = pd.DataFrame(
    {
        "customer_id": ["c-1", "c-2", "c-3", "c-4"],
        "email": ["a@x.org", "b@x.org", "c@x.org", "d@x.org"],
        "age": [31, 45, 52, 29],
        "event_time": [
            "2026-10-15T00:00:00Z",  # block 0: not claimed
            "2026-11-03T00:00:00Z",
            "2026-11-20T00:00:00Z",
            "2026-11-29T00:00:00Z",
        ],
        "salary": [1, 2, 3, 4],  # not leased
    }
)


def test_a_governed_read_filters_treats_claims_and_writes_a_manifest(
    client, world, registry, tmp_path
):
    with client.governed_read(
        "events", "churn", FRAME, output_dir=tmp_path, epsilon=0.5, dataset_version="v42"
    ) as read:
        data = read.data
        # consent: c-2 withdrew; budget: the claim covers block 1 only (November)
        assert data["customer_id"].tolist() == ["c-3", "c-4"]
        assert list(data.columns) == ["customer_id", "email", "age", "event_time"]
        assert data["age"].tolist() == [50, 20]
        assert data["email"].tolist() == [
            read.pseudonymize("c@x.org"),
            read.pseudonymize("d@x.org"),
        ]
        assert world["filters"][0] == {
            "snapshot": "snap-1",
            "subject_ids": ["c-1", "c-2", "c-3", "c-4"],
        }
        assert world["claim_body"]["decision_id"] == "dec-1"
    manifest = json.loads((tmp_path / "governance-manifest.json").read_text())
    assert manifest["decision"]["decision_id"] == "dec-1"
    assert manifest["consent"]["snapshot"]["id"] == "snap-1"
    assert manifest["consent"]["subjects_kept"] == 3
    assert manifest["consent"]["subjects_kept_sha256"] == subjects_digest(
        "shop", ["c-1", "c-3", "c-4"]
    )
    assert manifest["budget"] == {
        "claim": "claim-1",
        "requirement": 4,
        "epsilon": 0.5,
        "delta": 0.0,
        "blocks": [1],
        "composition": "basic",
        "status": "committed",
    }
    assert manifest["pseudonymization"] == {"purpose": "churn", "key_version": 1}
    assert manifest["dataset_version"]["version"] == "v42"
    assert manifest["dataset_version"]["rows_read"] == 4
    assert manifest["dataset_version"]["rows_kept"] == 2
    # the lease verifies offline against keys kept elsewhere, or the registry's published keys
    assert verify_manifest(tmp_path / "governance-manifest.json", keyset=registry.jwks())
    assert verify_manifest(tmp_path / "governance-manifest.json", keyset=client)["jti"] == "dec-1"


def test_a_failed_run_releases_its_claim(client, world, tmp_path):
    with (
        pytest.raises(RuntimeError),
        client.governed_read("events", "churn", FRAME, output_dir=tmp_path, epsilon=0.5),
    ):
        raise RuntimeError("training crashed")
    assert world["claims"]["claim-1"]["status"] == "released"
    manifest = json.loads((tmp_path / "governance-manifest.json").read_text())
    assert manifest["budget"]["status"] == "released"


def test_a_dp_dataset_needs_an_epsilon_and_an_oversized_claim_is_refused(client, world, tmp_path):
    with pytest.raises(ObligationError, match="differential privacy"):
        client.governed_read("events", "churn", FRAME, output_dir=tmp_path)
    with pytest.raises(BudgetExceeded):
        client.governed_read("events", "churn", FRAME, output_dir=tmp_path, epsilon=2.0)
    assert not (tmp_path / "governance-manifest.json").exists()


def test_a_deny_reads_nothing(client, registry, tmp_path):
    deny = {
        "decision": "deny",
        "decision_id": "dec-2",
        "reasons": [{"code": "no_grant", "message": "No grant."}],
        "dataset": "events",
        "purpose": "churn",
        "fields": [],
        "lease": None,
    }
    registry.route("POST", "/api/v1/access/check", lambda r: httpx.Response(200, json=deny))
    read = []
    with pytest.raises(AccessDenied):
        client.governed_read("events", "churn", lambda d: read.append(d), output_dir=tmp_path)
    assert read == []


def test_the_manifest_is_logged_to_the_active_mlflow_run(client, world, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # a local store, nothing leaves
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    with mlflow.start_run() as run:
        with client.governed_read(
            "events", "churn", FRAME, output_dir=tmp_path / "out", epsilon=0.5
        ):
            pass
    logged = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/governance/manifest.json")
    assert logged["decision"]["decision_id"] == "dec-1"
    assert logged["budget"]["status"] == "committed"
    tags = mlflow.get_run(run.info.run_id).data.tags
    assert tags["governance.consent_snapshot"] == "snap-1"
    assert tags["governance.budget_status"] == "committed"


def _keep_email(body):
    body["obligations"]["fields"]["email"] = "keep"


def _drop_budget(body):
    del body["obligations"]["privacy_budget"]


def _add_field(body):
    body["fields"].append("salary")


@pytest.mark.parametrize(
    ("tamper", "differs"),
    [(_keep_email, "obligations"), (_drop_budget, "obligations"), (_add_field, "fields")],
)
def test_an_answer_that_disagrees_with_its_signed_lease_is_refused_before_reading(
    client, world, registry, tmp_path, tamper, differs
):
    # given a proxy that rewrites the check's body but cannot re-sign the lease
    world["tamper"] = tamper
    read = []
    # when / then
    with pytest.raises(LeaseMismatch, match=differs) as refused:
        client.governed_read(
            "events", "churn", lambda d: read.append(d) or FRAME, output_dir=tmp_path, epsilon=0.5
        )
    assert refused.value.differs == [differs]
    assert read == []
    assert "claim_body" not in world
    assert not (tmp_path / "governance-manifest.json").exists()


def test_the_manifest_records_the_leases_obligations_and_a_rewritten_one_fails_verification(
    client, world, registry, tmp_path
):
    # given a governed read
    with client.governed_read("events", "churn", FRAME, output_dir=tmp_path, epsilon=0.5):
        pass
    path = tmp_path / "governance-manifest.json"
    manifest = json.loads(path.read_text())
    claims = verify_manifest(path, keyset=registry.jwks())
    assert manifest["decision"]["obligations"] == claims["lease"]["obligations"]
    # when the manifest's obligations are rewritten afterwards
    manifest["decision"]["obligations"]["fields"]["email"] = "keep"
    path.write_text(json.dumps(manifest))
    # then it no longer verifies
    with pytest.raises(LeaseMismatch, match="obligations"):
        verify_manifest(path, keyset=registry.jwks())


class Clock:
    """Time that passes only when the client sleeps."""

    def __init__(self):
        self.now = time.time()

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clocked(registry):
    clock = Clock()
    client = Client(
        "https://registry.test",
        "client-id",
        "client-secret",
        transport=httpx.MockTransport(registry.handle),
        sleep=clock.sleep,
        clock=clock,
        retries=2,
        backoff=0.5,
    )
    return client, clock


def _lock_for(world, seconds):
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    world["lock_expires_at"] = moment.isoformat().replace("+00:00", "Z")


def _failing(registry, path, answers, then):
    """Answer ``answers`` (statuses, or exceptions to raise) in turn, then ``then``."""
    pending = list(answers)

    def handler(request):
        if pending:
            answer = pending.pop(0)
            if isinstance(answer, int):
                return httpx.Response(
                    answer, json={"error": {"code": "unavailable", "message": "no"}}
                )
            raise answer("the answer was lost", request=request)
        return then(request)

    registry.route("POST", path, handler)


def test_a_commit_that_meets_503s_is_retried_until_it_goes_through(
    clocked, world, registry, tmp_path
):
    client, _ = clocked
    _lock_for(world, 3600)
    commit = registry.routes[("POST", "/api/v1/budget/claims/claim-1/commit")]
    # given a registry that answers 503 to more tries than one call makes
    _failing(registry, "/api/v1/budget/claims/claim-1/commit", [503] * 7, commit)
    # when the run ends normally
    with client.governed_read("events", "churn", FRAME, output_dir=tmp_path, epsilon=0.5):
        pass
    # then the claim is committed and the manifest says the run is complete
    assert world["claims"]["claim-1"]["status"] == "committed"
    manifest = json.loads((tmp_path / "governance-manifest.json").read_text())
    assert (manifest["status"], manifest["budget"]["status"]) == ("complete", "committed")


def test_a_commit_whose_answer_was_lost_is_retried_and_a_second_commit_counts_as_done(
    clocked, world, registry, tmp_path
):
    client, _ = clocked
    _lock_for(world, 3600)
    commit = registry.routes[("POST", "/api/v1/budget/claims/claim-1/commit")]

    def lost_after_commit(request):
        commit(request)  # the registry committed, then the answer was lost
        raise httpx.ReadError("the answer was lost", request=request)

    answers = iter([lost_after_commit])

    def twice(request):
        step = next(answers, None)
        if step is not None:
            return step(request)
        return httpx.Response(
            409,
            json={
                "error": {
                    "code": "conflict",
                    "message": "This claim is committed (spent).",
                    "details": {"status": "committed"},
                }
            },
        )

    registry.route("POST", "/api/v1/budget/claims/claim-1/commit", twice)
    with client.governed_read("events", "churn", FRAME, output_dir=tmp_path, epsilon=0.5) as read:
        pass
    assert read.claim.status == "committed"
    manifest = json.loads((tmp_path / "governance-manifest.json").read_text())
    assert manifest["status"] == "complete"


def test_a_commit_that_cannot_go_through_before_the_lock_lapses_says_the_data_was_read(
    clocked, world, registry, tmp_path
):
    client, clock = clocked
    _lock_for(world, 120)
    # given a registry that answers 503 to every commit
    _failing(registry, "/api/v1/budget/claims/claim-1/commit", [503] * 1000, None)
    # when the run ends normally
    with (
        pytest.raises(CommitFailed) as failed,
        client.governed_read("events", "churn", FRAME, output_dir=tmp_path, epsilon=0.5),
    ):
        pass
    # then the job is told the data was read and the claim may lapse, not "nothing was allowed"
    message = str(failed.value)
    assert "was read" in message
    assert "nothing was allowed" not in message
    assert failed.value.claim_id == "claim-1"
    assert isinstance(failed.value.__cause__, RegistryUnavailable)
    # it tried until the lock would lapse, no longer
    assert clock.now <= datetime.now(UTC).timestamp() + 120 + 31
    manifest = json.loads((tmp_path / "governance-manifest.json").read_text())
    assert manifest["status"] == "commit_failed"
    assert manifest["budget"]["status"] == "locked"


def test_when_the_job_fails_and_the_release_fails_too_the_jobs_exception_is_kept(
    clocked, world, registry, tmp_path
):
    client, _ = clocked
    _lock_for(world, 3600)
    _failing(registry, "/api/v1/budget/claims/claim-1/release", [503] * 1000, None)
    with (
        pytest.raises(RuntimeError, match="training crashed") as raised,
        client.governed_read("events", "churn", FRAME, output_dir=tmp_path, epsilon=0.5),
    ):
        raise RuntimeError("training crashed")
    assert any("could not be released" in note for note in raised.value.__notes__)
    manifest = json.loads((tmp_path / "governance-manifest.json").read_text())
    assert manifest["status"] == "failed"


def test_a_manifest_is_verified_only_against_keys_trusted_from_outside_it(
    client, world, registry, tmp_path
):
    # given a manifest whose lease was replaced by a forgery signed with the forger's own key,
    # which the forger also put in the manifest
    with client.governed_read("events", "churn", FRAME, output_dir=tmp_path, epsilon=0.5):
        pass
    path = tmp_path / "governance-manifest.json"
    forger = FakeRegistry()
    manifest = json.loads(path.read_text())
    manifest["lease"]["token"] = forger.lease(
        lease=manifest["lease"]["claims"]["lease"], jti="dec-1"
    )
    manifest["lease"]["keys"] = forger.jwks()
    path.write_text(json.dumps(manifest))
    # then no keyset is no verification, and the registry's keys refuse the forgery
    with pytest.raises(TypeError, match="keyset"):
        verify_manifest(path)
    for trusted in (registry.jwks(), client):
        with pytest.raises(LeaseInvalid):
            verify_manifest(path, keyset=trusted)
