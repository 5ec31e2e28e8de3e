"""Issue 18, first bullet: the evasion sequences an auditor tried against the alert rules, each
replayed here and caught, and the ordinary traffic that must not page anyone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from governance.access.alerts import alerts_scan
from governance.access.models import Alert
from governance.audit.models import LedgerEntry
from governance.audit.services import record
from tests.accounts.factories import make_service_account

WEDNESDAY = datetime(2026, 3, 4, 10, 30, tzinfo=UTC)


def check(actor, at, *, n=1, dataset="support-tickets", decision="allow", principal=None):
    with time_machine.travel(at, tick=False):
        for _ in range(n):
            record(
                action="access.check",
                actor=actor,
                data={
                    "decision_id": "d",
                    "decision": decision,
                    "dataset": dataset,
                    "purpose": "ticket-routing",
                    "principal": principal or f"user:{actor.username}",
                    "reasons": [],
                    "grant": None,
                    "facts": {"dataset_sensitivity": "internal"},
                },
            )


def export(actor, at, *, event="consent.export_started", data=None):
    with time_machine.travel(at, tick=False):
        record(action=event, actor=actor, data=data or {"purpose": "churn-model"})


def scan(now):
    with time_machine.travel(now, tick=False):
        return alerts_scan(now=now)


@pytest.fixture
def four_windows(settings):
    """A short baseline; the factor (5) and the minimum count (50) are the defaults."""
    settings.ALERT_BASELINE_WINDOWS = 4


def test_a_second_larger_spike_is_caught_although_the_first_spike_raised_an_alert(
    bob, four_windows
):
    # given: about 20 decisions an hour, then 300 in the 09:00 hour, which raises a high alert
    for hour, n in ((6, 22), (7, 20), (8, 20)):
        check(bob, WEDNESDAY.replace(hour=hour, minute=10), n=n)
    check(bob, WEDNESDAY.replace(hour=9, minute=10), n=300)
    first = scan(WEDNESDAY.replace(hour=9, minute=50))
    assert [(a.rule, a.severity, a.window_start.hour) for a in first] == [("rate_spike", "high", 9)]

    # when: 400 in the next hour (a mean over the last four windows would be 90.5, and the
    # spike would hide under a threshold of 452.5)
    check(bob, WEDNESDAY.replace(hour=10, minute=10), n=400)
    second = scan(WEDNESDAY.replace(hour=10, minute=50))

    # then
    assert [(a.rule, a.principal, a.severity, a.window_start.hour) for a in second] == [
        ("rate_spike", "user:bob", "high", 10)
    ]
    assert second[0].details["baseline_median"] == 20.0
    assert second[0].details["windows_left_out"] == 1


def test_spikes_in_most_baseline_windows_do_not_become_the_baseline(bob, four_windows):
    # given: three spikes in a row, each alerting
    for hour in (6, 7, 8):
        check(bob, WEDNESDAY.replace(hour=hour, minute=10), n=20)
    for hour in (9, 10, 11):
        check(bob, WEDNESDAY.replace(hour=hour, minute=10), n=300)
        scan(WEDNESDAY.replace(hour=hour, minute=50))

    # when: a fourth
    check(bob, WEDNESDAY.replace(hour=12, minute=10), n=300)
    raised = scan(WEDNESDAY.replace(hour=12, minute=50))

    # then: still measured against the ordinary hours, not against the spikes
    assert [(a.rule, a.window_start.hour) for a in raised] == [("rate_spike", 12)]
    assert Alert.objects.filter(rule="rate_spike").count() == 4


def test_a_spike_explained_as_expected_becomes_part_of_the_baseline(bob, petra, four_windows):
    # given: a new nightly job at 300 an hour, its first alert acknowledged as expected
    from governance.access.alerts import alert_acknowledge

    for hour in (6, 7, 8):
        check(bob, WEDNESDAY.replace(hour=hour, minute=10), n=20)
    for hour in (9, 10, 11):
        check(bob, WEDNESDAY.replace(hour=hour, minute=10), n=300)
        for alert in scan(WEDNESDAY.replace(hour=hour, minute=50)):
            alert_acknowledge(
                actor=petra, alert=alert, outcome="expected", note="The new nightly job."
            )

    # when
    check(bob, WEDNESDAY.replace(hour=12, minute=10), n=300)
    raised = scan(WEDNESDAY.replace(hour=12, minute=50))

    # then: the job's normal rate no longer pages anyone
    assert raised == []


def test_a_large_export_is_an_alert_of_its_own_beside_a_count_alert(alice, bob, settings):
    settings.ALERT_EXPORT_ROWS_THRESHOLD = 1000
    # given: three exports by alice raise a medium "many exports" alert
    for minute in (1, 2, 3):
        export(alice, WEDNESDAY.replace(minute=minute))
    first = scan(WEDNESDAY.replace(minute=5))
    assert [(a.rule, a.principal, a.severity) for a in first] == [
        ("bulk_export", "user:alice", "medium")
    ]

    # when: in the same window she exports 1,575 subjects, and bob alone does the same
    export(alice, WEDNESDAY.replace(minute=20))
    export(alice, WEDNESDAY.replace(minute=21), event="consent.exported", data={"count": 1575})
    export(bob, WEDNESDAY.replace(minute=22))
    export(bob, WEDNESDAY.replace(minute=23), event="consent.exported", data={"count": 1575})
    second = scan(WEDNESDAY.replace(minute=25))

    # then: each large export is its own high alert, whoever made it
    assert sorted((a.rule, a.principal, a.severity, a.details["subjects"]) for a in second) == [
        ("large_export", "user:alice", "high", 1575),
        ("large_export", "user:bob", "high", 1575),
    ]


def test_wrong_client_secrets_at_the_token_endpoint_are_ledger_events_and_raise_an_alert(
    client, bob
):
    # given
    account, _secret = make_service_account(bob, name="fraud-training")

    # when: fifteen wrong client secrets
    for _ in range(15):
        response = client.post(
            "/o/token/",
            {
                "grant_type": "client_credentials",
                "client_id": account.client_id,
                "client_secret": "not-the-secret",
            },
            REMOTE_ADDR="203.0.113.9",
        )
        assert response.status_code == 401

    # then: every failure is in the ledger ...
    failures = list(LedgerEntry.objects.filter(event="auth.token_failed").order_by("id"))
    assert len(failures) == 15
    assert failures[0].additional_data == {
        "client_id": account.client_id,
        "service_account": "fraud-training",
        "error": "invalid_client",
    }
    assert failures[0].remote_addr == "203.0.113.9"
    # ... and the scan raises one alert about the client
    raised = scan(timezone.now())
    assert [(a.rule, a.principal, a.severity, a.details["count"]) for a in raised] == [
        ("failed_authentication", "service_account:fraud-training", "high", 15)
    ]


def test_an_unknown_client_id_at_the_token_endpoint_is_a_ledger_event_too(client, db):
    response = client.post(
        "/o/token/",
        {"grant_type": "client_credentials", "client_id": "guess", "client_secret": "x"},
    )

    assert response.status_code == 401
    (failure,) = LedgerEntry.objects.filter(event="auth.token_failed")
    assert failure.additional_data == {
        "client_id": "guess",
        "service_account": None,
        "error": "invalid_client",
    }


def test_failed_portal_sign_ins_are_all_recorded_and_raise_an_alert(client, petra):
    # when: twelve wrong passwords (the lockout starts after ten)
    for _ in range(12):
        client.post(
            "/accounts/login/",
            {"username": "petra", "password": "wrong"},
            REMOTE_ADDR="198.51.100.7",
        )

    # then
    assert LedgerEntry.objects.filter(event="auth.login_failed").count() == 12
    raised = scan(timezone.now())
    assert [(a.rule, a.principal, a.details["count"]) for a in raised] == [
        ("failed_authentication", "user:petra", 12)
    ]


def test_one_address_trying_many_usernames_raises_an_alert_about_the_address(client, db):
    for n in range(10):
        client.post(
            "/accounts/login/",
            {"username": f"guess{n}", "password": "wrong"},
            REMOTE_ADDR="198.51.100.8",
        )

    raised = scan(timezone.now())

    assert [(a.rule, a.principal, a.details["count"]) for a in raised] == [
        ("failed_authentication", "address:198.51.100.8", 10)
    ]


def test_a_principal_reading_many_datasets_it_never_read_before_raises_an_alert(bob, charlie):
    # given: bob has read "usual" for weeks; charlie reads the same six datasets every hour
    check(bob, WEDNESDAY - timedelta(days=10), dataset="usual")
    for dataset in ("a", "b", "c", "d", "e", "f"):
        check(charlie, WEDNESDAY - timedelta(hours=3), dataset=dataset)
        check(charlie, WEDNESDAY.replace(minute=1), dataset=dataset)

    # when: bob reads "usual" and five datasets he never read
    check(bob, WEDNESDAY.replace(minute=5), dataset="usual", n=3)
    for n in range(5):
        check(bob, WEDNESDAY.replace(minute=10 + n), dataset=f"new-{n}")
    raised = scan(WEDNESDAY)

    # then
    assert [(a.rule, a.principal, a.severity) for a in raised] == [
        ("new_datasets", "user:bob", "medium")
    ]
    assert raised[0].details["datasets"] == ["new-0", "new-1", "new-2", "new-3", "new-4"]


def test_acknowledging_an_alert_records_its_outcome(client, petra, bob):
    # given
    check(bob, WEDNESDAY.replace(minute=5), n=10, decision="deny")
    (alert,) = scan(WEDNESDAY)
    client.force_login(petra)

    # when
    response = client.post(
        reverse("access:alerts"),
        {"alert": alert.pk, "outcome": "incident", "note": "Bob's token was phished; revoked."},
    )

    # then
    assert response.status_code == 302
    alert.refresh_from_db()
    assert (alert.outcome, alert.outcome_note) == ("incident", "Bob's token was phished; revoked.")
    entry = LedgerEntry.objects.get(event="access.alert_acknowledged")
    assert entry.additional_data == {
        "rule": "repeated_denials",
        "principal": "user:bob",
        "dataset": "",
        "outcome": "incident",
        "note": "Bob's token was phished; revoked.",
    }


def test_an_acknowledgement_without_an_outcome_is_refused_and_changes_nothing(client, petra, bob):
    check(bob, WEDNESDAY.replace(minute=5), n=10, decision="deny")
    (alert,) = scan(WEDNESDAY)
    client.force_login(petra)

    response = client.post(reverse("access:alerts"), {"alert": alert.pk, "note": "seen"})

    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    assert not LedgerEntry.objects.filter(event="access.alert_acknowledged").exists()
    (refusal,) = LedgerEntry.objects.filter(event="access.alert_refused")
    assert refusal.additional_data["details"] == {"field": "outcome"}
