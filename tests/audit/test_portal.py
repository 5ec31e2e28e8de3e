"""The auditor portal: search the ledger, read an entry with its diff and chain proof."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from datasets import services as dataset_services
from governance.audit import chain, selectors
from governance.audit import services as audit
from governance.audit.models import LedgerEntry
from governance.errors import NotFound, NotPermitted
from tests.datasets.factories import make_dataset

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _checkpoint_keys(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_KEY_FILE = tmp_path / "keys" / "audit-checkpoint.jwks.json"


def _at(hour: int, **kwargs) -> LedgerEntry:
    with time_machine.travel(T0.replace(hour=hour), tick=False):
        return audit.record(**kwargs)


@pytest.fixture
def events(alice, bob):
    """Five domain events at 09:00..13:00 on 1 March 2026."""
    return {
        "allow": _at(
            9,
            action="access.check",
            actor=bob,
            data={"dataset": "tickets", "purpose": "fraud", "decision": "allow"},
        ),
        "deny": _at(
            10,
            action="access.check",
            actor=bob,
            data={"dataset": "orders", "purpose": "fraud", "decision": "deny"},
        ),
        "grant": _at(
            11,
            action="access.grant_approved",
            actor=alice,
            data={"dataset": "tickets", "purpose": "support"},
        ),
        "login": _at(12, action="auth.login", actor=alice, target=alice),
        "failed": _at(13, action="auth.login_failed", object_repr="mallory"),
    }


def _search(viewer, **filters) -> list[int]:
    only_fixture_day = {"start": T0.replace(hour=0), "end": T0.replace(hour=23)}
    return list(
        selectors.ledger_search(viewer=viewer, **{**only_fixture_day, **filters}).values_list(
            "pk", flat=True
        )
    )


def _pks(events, *names) -> list[int]:
    return [events[name].pk for name in names]


def test_search_without_filters_lists_newest_first(audrey, events):
    assert _search(audrey) == _pks(events, "failed", "login", "grant", "deny", "allow")


def test_search_by_actor_matches_the_recorded_username(audrey, events):
    assert _search(audrey, actor="bob") == _pks(events, "deny", "allow")
    assert _search(audrey, actor="alice") == _pks(events, "login", "grant")
    assert _search(audrey, actor="nobody") == []


def test_search_by_dataset_matches_event_data_and_changes_of_the_dataset(audrey, alice, events):
    assert _search(audrey, dataset="tickets") == _pks(events, "grant", "allow")
    # given a dataset created through the catalog service
    with time_machine.travel(T0.replace(hour=14), tick=False):
        dataset = make_dataset(alice, slug="tickets")
    # then its own model change is found too
    found = selectors.ledger_search(
        viewer=audrey, dataset="tickets", start=T0.replace(hour=14), end=T0.replace(hour=15)
    )
    assert found.exists()
    assert {(e.content_type.model, e.object_repr) for e in found if e.content_type} == {
        ("dataset", "tickets")
    }
    assert all(e.object_pk == str(dataset.pk) for e in found if e.content_type)


def test_search_by_purpose(audrey, events):
    assert _search(audrey, purpose="fraud") == _pks(events, "deny", "allow")
    assert _search(audrey, purpose="support") == _pks(events, "grant")


def test_search_by_event_is_exact_or_a_prefix_ending_in_a_dot(audrey, events):
    assert _search(audrey, event="access.") == _pks(events, "grant", "deny", "allow")
    assert _search(audrey, event="access.check") == _pks(events, "deny", "allow")
    assert _search(audrey, event="auth.") == _pks(events, "failed", "login")
    assert _search(audrey, event="auth") == []


def test_search_by_time_range_is_half_open(audrey, events):
    assert _search(audrey, start=T0.replace(hour=10), end=T0.replace(hour=12)) == _pks(
        events, "grant", "deny"
    )


def test_search_by_decision(audrey, events):
    assert _search(audrey, decision="allow") == _pks(events, "allow")
    assert _search(audrey, decision="deny") == _pks(events, "deny")
    assert _search(audrey, decision="deny", dataset="tickets") == []


@pytest.mark.parametrize("persona", ["alice", "bob", "charlie"])
def test_only_auditors_privacy_officers_and_admins_may_search(persona, request, events):
    user = request.getfixturevalue(persona)
    with pytest.raises(NotPermitted) as error:
        selectors.ledger_search(viewer=user)
    assert error.value.message == selectors.MSG_NOT_PERMITTED
    with pytest.raises(NotPermitted):
        selectors.ledger_entry_get_for(viewer=user, pk=events["login"].pk)


@pytest.mark.parametrize("persona", ["audrey", "petra", "ada"])
def test_auditor_privacy_officer_and_admin_see_the_log_page(persona, request, client, events):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(reverse("audit:log"), {"event": "access."})
    assert response.status_code == 200
    assert [e.pk for e in response.context["page"].object_list] == _pks(
        events, "grant", "deny", "allow"
    )
    assert b'data-nav="audit"' in response.content


@pytest.mark.parametrize("persona", ["alice", "bob"])
def test_steward_and_engineer_get_403_on_log_and_entry(persona, request, client, events):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("audit:log")).status_code == 403
    assert client.get(reverse("audit:entry", args=[events["login"].pk])).status_code == 403


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(reverse("audit:log"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_log_page_filters_from_the_query_string(client, audrey, events):
    client.force_login(audrey)
    response = client.get(
        reverse("audit:log"),
        {"actor": "bob", "decision": "deny", "start": "2026-03-01", "end": "2026-03-02T00:00"},
    )
    assert [e.pk for e in response.context["page"].object_list] == _pks(events, "deny")
    assert b"unsealed" in response.content


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "yesterday"}, "start"),
        ({"end": "2026-13-45"}, "end"),
        ({"decision": "maybe"}, "decision"),
        ({"start": "2026-03-02", "end": "2026-03-01"}, "end"),
    ],
)
def test_invalid_filters_are_form_errors_not_500(client, audrey, events, params, field):
    client.force_login(audrey)
    response = client.get(reverse("audit:log"), params)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert list(response.context["page"].object_list) == []


def test_inverted_range_says_what_is_wrong(client, audrey):
    client.force_login(audrey)
    response = client.get(reverse("audit:log"), {"start": "2026-03-02", "end": "2026-03-01"})
    assert response.context["form"].errors["end"] == ["The end must be after the start."]


def test_log_page_paginates_fifty_per_page(client, audrey):
    for n in range(51):
        audit.record(action="test.paged", actor=audrey, data={"n": n})
    client.force_login(audrey)
    first = client.get(reverse("audit:log"), {"event": "test.paged"})
    second = client.get(reverse("audit:log"), {"event": "test.paged", "page": 2})
    assert len(first.context["page"].object_list) == 50
    assert [e.additional_data["n"] for e in second.context["page"].object_list] == [0]
    assert b"event=test.paged&amp;page=2" in first.content


def _add_sealed(count: int, user) -> None:
    for n in range(count):
        audit.record(action="test.counted", actor=user, target=user, data={"n": n})
    chain.seal()
    chain.checkpoint_write()


def _log_page_queries(client) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("audit:log"), {"event": "test."})
    assert response.status_code == 200
    return len(queries), len(response.context["page"].object_list)


def test_log_page_query_count_does_not_grow_with_entries(
    client, audrey, django_assert_max_num_queries
):
    client.force_login(audrey)
    _add_sealed(5, audrey)
    with_five, shown = _log_page_queries(client)
    assert shown == 5
    _add_sealed(45, audrey)
    with django_assert_max_num_queries(with_five):
        _, shown = _log_page_queries(client)
    assert shown == 50
    assert with_five <= 8


def test_entry_page_shows_the_diff_and_the_chain_proof(client, alice, audrey):
    # given a dataset changed through the catalog service, sealed and checkpointed
    dataset = make_dataset(alice, slug="tickets")
    dataset_services.dataset_update(actor=alice, dataset=dataset, name="Support tickets")
    update = LedgerEntry.objects.filter(event="model.updated", object_pk=str(dataset.pk)).latest(
        "id"
    )
    chain.seal()
    checkpoint = chain.checkpoint_write()
    client.force_login(audrey)
    # when
    response = client.get(reverse("audit:entry", args=[update.pk]))
    # then
    assert response.status_code == 200
    assert ("name", "tickets", "Support tickets") in response.context["diff"]
    proof = response.context["proof"]
    link = update.link
    assert (proof.position, proof.stored_entry_hash, proof.chain_hash) == (
        link.position,
        link.entry_hash,
        link.chain_hash,
    )
    assert proof.verified
    assert proof.checkpoint == checkpoint
    assert (proof.checkpoint_signature_ok, proof.checkpoint_head_ok) == (True, True)
    html = response.content.decode()
    assert "Verified" in html
    assert link.chain_hash in html
    assert '<tr data-field="name"><td><code>name</code></td><td>tickets</td>' in html


def test_entry_page_shows_event_data_and_unsealed_state(client, audrey, bob):
    entry = audit.record(
        action="access.check", actor=bob, data={"decision": "deny", "dataset": "tickets"}
    )
    client.force_login(audrey)
    response = client.get(reverse("audit:entry", args=[entry.pk]))
    assert response.context["proof"] is None
    assert response.context["additional_data"] == (
        '{\n  "dataset": "tickets",\n  "decision": "deny"\n}'
    )
    assert b"Unsealed" in response.content


def test_unknown_entry_is_404(client, audrey):
    client.force_login(audrey)
    assert client.get(reverse("audit:entry", args=[999_999_999])).status_code == 404
    with pytest.raises(NotFound):
        selectors.ledger_entry_get_for(viewer=audrey, pk=999_999_999)


def test_log_page_shows_the_latest_checkpoint(client, audrey):
    audit.record(action="test.event", actor=audrey)
    chain.seal()
    chain.checkpoint_write()
    audit.record(action="test.event", actor=audrey)
    chain.seal()
    latest = chain.checkpoint_write()
    client.force_login(audrey)
    response = client.get(reverse("audit:log"))
    assert response.context["checkpoint"] == latest
    html = response.content.decode()
    assert latest.head_hash in html
    assert latest.kid in html
    assert "manage.py verify_audit" in html


def test_portal_has_no_forms_that_change_anything(client, audrey, events):
    client.force_login(audrey)
    for url in (reverse("audit:log"), reverse("audit:entry", args=[events["login"].pk])):
        html = client.get(url).content.decode()
        assert 'method="post"' not in html.replace(
            '<form method="post" action="/accounts/logout/">', ""
        )
        assert client.post(url).status_code == 405
