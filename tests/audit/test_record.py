from __future__ import annotations

import pytest

from governance.audit import context
from governance.audit import services as audit
from governance.audit.models import LedgerEntry


def test_record_writes_a_domain_event_with_actor_target_and_data(alice, bob):
    # when
    entry = audit.record(action="grant.approved", target=bob, actor=alice, data={"days": 30})
    # then
    entry.refresh_from_db()
    assert entry.event == "grant.approved"
    assert entry.action == LedgerEntry.Action.EVENT
    assert entry.actor == alice
    assert entry.actor_label == "alice"
    assert entry.object_pk == str(bob.pk)
    assert entry.content_type.model == "user"
    assert entry.additional_data == {"days": 30}


def test_record_without_target_is_allowed_for_events_about_nobody(db):
    entry = audit.record(
        action="auth.login_failed", object_repr="ghost", data={"username": "ghost"}
    )
    assert entry.content_type is None
    assert entry.object_pk == ""
    assert entry.actor is None


@pytest.mark.parametrize("name", ["", "login", "Auth.Login", "auth..login", "auth.login!"])
def test_record_refuses_event_names_that_are_not_area_dot_verb(db, name):
    with pytest.raises(ValueError, match="must look like"):
        audit.record(action=name)
    assert LedgerEntry.objects.count() == 0


def test_record_uses_the_request_id_as_correlation_id(db):
    token = context.set_request_id("req-123")
    try:
        entry = audit.record(action="test.correlated")
    finally:
        context.reset_request_id(token)
    assert entry.cid == "req-123"


def test_model_changes_of_registered_models_land_in_the_ledger(alice):
    # given a user whose groups changed through the roles service (factory)
    # when the user's email changes
    alice.email = "alice@new.example.org"
    alice.save()
    # then
    entry = LedgerEntry.objects.filter(event="model.updated", object_pk=str(alice.pk)).first()
    assert entry is not None
    assert entry.changes["email"] == ["alice@example.org", "alice@new.example.org"]
    assert "password" not in (entry.changes or {})


def test_caller_supplied_request_id_is_echoed_and_recorded(client, bob):
    # given a caller that sends its own request id
    client.force_login(bob)
    # when
    response = client.get("/api/v1/me", HTTP_X_REQUEST_ID="job-42.attempt-1")
    # then
    assert response.status_code == 200
    assert response["X-Request-ID"] == "job-42.attempt-1"


def test_unsafe_request_id_is_replaced(client, bob):
    client.force_login(bob)
    response = client.get("/api/v1/me", HTTP_X_REQUEST_ID="bad id\n<script>")
    assert response["X-Request-ID"] != "bad id\n<script>"
    assert len(response["X-Request-ID"]) == 32
