"""Issue 18: a closed erasure request keeps the subject's id only as a keyed hash, like the
ledger keeps only a hash; the data migration does the same for requests closed before."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from consent.identifiers import subject_digest
from governance.retention import runner, services
from governance.retention.models import ErasureRequest
from tests.accounts.factories import UserFactory
from tests.retention.conftest import set_policy


@pytest.fixture
def erasure(alice, petra, store, events_dataset):
    store.fill(20, subjects=5, days=50)
    set_policy(dataset=events_dataset, actor=alice, max_age_days=3650)
    return services.erasure_request_create(
        actor=petra,
        external_id="c-1",
        namespace="shop",
        received_on=date.today(),
        datasets=[events_dataset],
        reference="DSR-1",
    )


def test_a_completed_erasure_request_keeps_only_a_keyed_hash_of_the_subject(
    alice,
    erasure,
    events_dataset,
):
    # when: the erasure run completes the request
    run = services.run_start(dataset=events_dataset, actor=alice, kind="erasure")
    runner.run_execute(run_id=run.pk)

    # then
    erasure.refresh_from_db()
    assert erasure.status == "completed"
    assert erasure.external_id == ""
    assert erasure.subject_hmac == subject_digest("shop", "c-1")
    assert erasure.subject_hmac != hashlib.sha256(b"shop:c-1").hexdigest()
    assert erasure.subject_label == "shop:(erased)"


def test_a_rejected_erasure_request_keeps_only_a_keyed_hash_too(petra, erasure):
    services.erasure_request_reject(request_id=erasure.pk, actor=petra, reason="Art. 17(3)(e)")

    erasure.refresh_from_db()
    assert (erasure.status, erasure.external_id) == ("rejected", "")
    assert erasure.subject_hmac == subject_digest("shop", "c-1")


def test_the_database_refuses_a_closed_request_with_the_id_in_clear(erasure):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        ErasureRequest.objects.filter(pk=erasure.pk).update(status="rejected", rejection_reason="x")


def test_the_migration_hashes_requests_closed_before_it(transactional_db):
    # given a request closed under the previous schema
    petra = UserFactory(username="petra", roles=["privacy_officer"])
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("retention")
    before = [("retention", "0003_connection_moves_to_the_catalog")]
    executor.migrate(before)
    old_apps = executor.loader.project_state(before).apps
    Request = old_apps.get_model("retention", "ErasureRequest")
    request = Request.objects.create(
        namespace="shop",
        external_id="c-9",
        received_on=date(2026, 1, 5),
        due_on=date(2026, 2, 5),
        status="completed",
        created_by_id=petra.pk,
    )

    # when
    executor = MigrationExecutor(connection)
    executor.migrate(latest)

    # then
    request = ErasureRequest.objects.get(pk=request.pk)
    assert request.external_id == ""
    assert request.subject_hmac == subject_digest("shop", "c-9")
