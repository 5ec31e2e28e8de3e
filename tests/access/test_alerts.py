from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from governance.access import selectors
from governance.access.alerts import (
    AlertConfig,
    Window,
    alerts_scan,
    bulk_export,
    large_export,
    rate_spike,
    repeated_denials,
    restricted_off_hours,
)
from governance.access.models import Alert
from governance.access.tasks import ALERTS_LOCK, alerts_scan_task
from governance.audit.models import LedgerEntry
from governance.audit.services import record
from tests.datasets.factories import make_dataset

WEDNESDAY = datetime(2026, 3, 4, 10, 30, tzinfo=UTC)  # scans 09:00-10:00 and 10:00-10:30
SATURDAY = datetime(2026, 3, 7, 11, 30, tzinfo=UTC)
WINDOW = Window(datetime(2026, 3, 4, 10, tzinfo=UTC), datetime(2026, 3, 4, 11, tzinfo=UTC))
CONFIG = AlertConfig()


def check(
    actor,
    at,
    *,
    n=1,
    principal=None,
    dataset="support-tickets",
    decision="allow",
    sensitivity="internal",
):
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
                    "facts": {"dataset_sensitivity": sensitivity},
                },
            )


def export(actor, at, *, event="compliance.export_requested", data=None):
    with time_machine.travel(at, tick=False):
        record(action=event, actor=actor, data=data or {"kind": "access_report"})


def scan(now):
    with time_machine.travel(now, tick=False):
        return alerts_scan(now=now)


# --- the rules, without a database ----------------------------------------------------------


def test_rate_spike_fires_only_above_the_minimum_count_when_there_is_no_baseline():
    # given / when: 24 windows without a decision
    quiet = {"user:bob": [0] * 24}
    at_minimum = rate_spike({"user:bob": {"a": 50}}, quiet, window=WINDOW, config=CONFIG)
    above = rate_spike({"user:bob": {"a": 30, "b": 21}}, quiet, window=WINDOW, config=CONFIG)

    # then
    assert at_minimum == []
    assert [(f.rule, f.principal, f.details["count"]) for f in above] == [
        ("rate_spike", "user:bob", 51)
    ]
    assert above[0].summary == (
        "user:bob made 51 access decisions in 2026-03-04 10:00 to 11:00 UTC, against a "
        "median of 0.0 per window over the previous 24 windows (alert above 50.0)."
    )


def test_rate_spike_measures_against_the_principals_own_baseline():
    # given: 24 windows of about 100 decisions (one of 900); the factor is 5
    baseline = {"service_account:etl": [100] * 12 + [90, 110] * 5 + [900, 100]}

    # when
    steady = rate_spike({"service_account:etl": {"a": 500}}, baseline, window=WINDOW, config=CONFIG)
    jump = rate_spike({"service_account:etl": {"a": 501}}, baseline, window=WINDOW, config=CONFIG)

    # then
    assert steady == []
    assert jump[0].details["baseline_median"] == 100.0
    assert jump[0].details["threshold"] == 500.0


def test_repeated_denials_fire_at_the_threshold():
    assert repeated_denials({"user:bob": {"a": 9}}, window=WINDOW, config=CONFIG) == []
    findings = repeated_denials({"user:bob": {"a": 6, "b": 4}}, window=WINDOW, config=CONFIG)
    assert findings[0].summary == (
        "user:bob was denied 10 times in 2026-03-04 10:00 to 11:00 UTC (alert at 10), "
        "on a (6), b (4)."
    )


@pytest.mark.parametrize(
    ("moment", "fires"),
    [
        (datetime(2026, 3, 4, 7, 0, tzinfo=UTC), False),  # Wednesday, opening hour
        (datetime(2026, 3, 4, 19, 59, tzinfo=UTC), False),
        (datetime(2026, 3, 4, 20, 0, tzinfo=UTC), True),
        (datetime(2026, 3, 4, 6, 59, tzinfo=UTC), True),
        (datetime(2026, 3, 7, 12, 0, tzinfo=UTC), True),  # Saturday
    ],
)
def test_restricted_access_alerts_only_outside_the_configured_hours(moment, fires):
    findings = restricted_off_hours(
        [("user:bob", "patients", moment)], window=WINDOW, config=CONFIG
    )
    assert bool(findings) is fires


def test_bulk_export_fires_on_many_exports_of_each_kind_and_large_export_on_one_large_one():
    personal, compliance = ("user:alice", "personal"), ("user:alice", "compliance")
    assert bulk_export({personal: 2, compliance: 19}, window=WINDOW, config=CONFIG) == []
    many = bulk_export({personal: 3, compliance: 20}, window=WINDOW, config=CONFIG)
    assert [(f.rule, f.key, f.details["count"]) for f in many] == [
        ("bulk_export", "compliance", 20),
        ("bulk_export", "personal", 3),
    ]
    below = [("user:alice", 7, "consent.exported", 99_999)]
    assert large_export(below, window=WINDOW, config=CONFIG) == []
    large = large_export(
        [("user:alice", 8, "consent.exported", 100_000), ("user:alice", 9, "consent.exported", 1)],
        window=WINDOW,
        config=CONFIG,
    )
    assert [(f.rule, f.key, f.severity, f.details["subjects"]) for f in large] == [
        ("large_export", "entry:8", "high", 100_000)
    ]


def test_a_bad_hours_setting_is_refused(settings):
    settings.ALERT_RESTRICTED_HOURS = "20-07"
    with pytest.raises(ImproperlyConfigured):
        AlertConfig.from_settings()


# --- the scan over the ledger ---------------------------------------------------------------


@pytest.fixture
def small_rates(settings):
    settings.ALERT_RATE_MIN_COUNT = 5
    settings.ALERT_RATE_FACTOR = 3
    settings.ALERT_BASELINE_WINDOWS = 4


def test_a_steady_high_rate_does_not_trip_rate_spike(bob, small_rates):
    # given: 8 decisions in each of the six hours before and including 10:00
    for hour in range(5, 11):
        check(bob, WEDNESDAY.replace(hour=hour, minute=10), n=8)

    # when / then
    assert scan(WEDNESDAY) == []


def test_a_sudden_jump_trips_rate_spike(bob, small_rates):
    # given
    for hour in range(5, 10):
        check(bob, WEDNESDAY.replace(hour=hour, minute=10), n=8)
    check(bob, WEDNESDAY.replace(minute=10), n=25)

    # when
    raised = scan(WEDNESDAY)

    # then
    assert [(a.rule, a.principal, a.dataset, a.window_start) for a in raised] == [
        ("rate_spike", "user:bob", "", WEDNESDAY.replace(minute=0))
    ]
    assert raised[0].summary == (
        "user:bob made 25 access decisions in 2026-03-04 10:00 to 10:30 UTC, against a "
        "median of 8.0 per window over the previous 4 windows (alert above 24.0)."
    )


def test_ten_denials_raise_an_alert_and_nine_do_not(bob, charlie):
    # given
    check(bob, WEDNESDAY.replace(minute=5), n=10, decision="deny")
    check(charlie, WEDNESDAY.replace(minute=5), n=9, decision="deny")

    # when
    raised = scan(WEDNESDAY)

    # then
    assert [(a.rule, a.principal) for a in raised] == [("repeated_denials", "user:bob")]


def test_restricted_data_allowed_on_a_saturday_raises_an_alert(bob, charlie):
    # given
    check(bob, SATURDAY.replace(minute=15), dataset="patients", sensitivity="restricted")
    check(
        charlie,
        SATURDAY.replace(minute=15),
        dataset="patients",
        sensitivity="restricted",
        decision="deny",
    )
    check(charlie, SATURDAY.replace(minute=15), dataset="tickets", sensitivity="internal")

    # when
    raised = scan(SATURDAY)

    # then
    assert [(a.rule, a.principal, a.dataset, a.severity) for a in raised] == [
        ("restricted_off_hours", "user:bob", "patients", "high")
    ]


def test_restricted_data_allowed_in_working_hours_raises_nothing(bob):
    check(bob, WEDNESDAY.replace(minute=15), dataset="patients", sensitivity="restricted")
    assert scan(WEDNESDAY) == []


def test_three_exports_of_personal_data_in_a_window_raise_a_bulk_export_alert(alice, bob):
    # given
    for minute in (1, 2, 3):
        export(alice, WEDNESDAY.replace(minute=minute), event="consent.export_started")
    export(alice, WEDNESDAY.replace(minute=4))  # a compliance export: counted on its own
    export(bob, WEDNESDAY.replace(minute=1), event="consent.export_started")
    export(bob, WEDNESDAY.replace(minute=2), event="consent.export_started")

    # when
    raised = scan(WEDNESDAY)

    # then
    assert [(a.rule, a.principal, a.details["count"]) for a in raised] == [
        ("bulk_export", "user:alice", 3)
    ]


def test_one_export_of_many_subjects_raises_a_large_export_alert(bob):
    export(bob, WEDNESDAY.replace(minute=1), event="consent.exported", data={"count": 150_000})

    raised = scan(WEDNESDAY)

    assert [(a.rule, a.principal, a.severity, a.details["subjects"]) for a in raised] == [
        ("large_export", "user:bob", "high", 150_000)
    ]


def test_rerunning_the_scan_raises_nothing_twice(bob):
    # given
    check(bob, WEDNESDAY.replace(minute=5), n=10, decision="deny")
    first = scan(WEDNESDAY)

    # when: later in the same window, and after it ended
    check(bob, WEDNESDAY.replace(minute=35), n=2, decision="deny")
    again = scan(WEDNESDAY + timedelta(minutes=10))
    after = scan(WEDNESDAY + timedelta(minutes=40))

    # then
    assert len(first) == 1
    assert again == []
    assert after == []
    assert Alert.objects.count() == 1
    assert LedgerEntry.objects.filter(event="access.alert_raised").count() == 1


@pytest.fixture
def patients(alice):
    """A dataset stewarded by alice."""
    return make_dataset(alice, slug="patients")


def test_an_alert_is_recorded_and_emailed_to_stewards_and_privacy_officers(
    alice, bob, petra, carol, patients, mailoutbox, django_capture_on_commit_callbacks
):
    # given
    check(bob, SATURDAY.replace(minute=15), dataset="patients", sensitivity="restricted")

    # when
    with django_capture_on_commit_callbacks(execute=True):
        (alert,) = scan(SATURDAY)

    # then
    assert [sorted(m.to) for m in mailoutbox] == [["alice@example.org", "petra@example.org"]]
    assert mailoutbox[0].subject == (
        "[Governance] Alert: restricted data outside hours by user:bob"
    )
    assert alert.summary in mailoutbox[0].body
    entry = LedgerEntry.objects.get(event="access.alert_raised")
    assert entry.additional_data == {
        "rule": "restricted_off_hours",
        "principal": "user:bob",
        "dataset": "patients",
        "severity": "high",
        "summary": alert.summary,
    }
    assert entry.object_pk == str(alert.pk)


def test_the_task_scans_once_and_skips_while_another_run_holds_the_lock(bob):
    check(bob, datetime.now(UTC) - timedelta(minutes=1), n=10, decision="deny")
    cache.add(ALERTS_LOCK, "1", timeout=60)
    assert alerts_scan_task() == {"skipped": "another run holds the lock"}
    cache.delete(ALERTS_LOCK)

    result = alerts_scan_task()

    assert result == {"raised": list(Alert.objects.values_list("pk", flat=True))}
    assert len(result["raised"]) == 1


# --- dashboard and page ---------------------------------------------------------------------


@pytest.fixture
def alerts(bob, patients):
    """One alert on alice's dataset, one about bob overall on another steward's dataset."""
    check(bob, SATURDAY.replace(minute=15), dataset="patients", sensitivity="restricted")
    check(bob, SATURDAY.replace(minute=16), n=10, decision="deny", dataset="other")
    return scan(SATURDAY)


def test_the_dashboard_shows_open_alerts_to_a_privacy_officer(petra, alerts, client):
    client.force_login(petra)

    response = client.get(reverse("dashboard"))

    assert response.status_code == 200
    panel = next(p for p in selectors.dashboard_panels(petra) if p["role"] == "Unusual access")
    assert [(i["label"], i["count"], i["url"], i["urgent"]) for i in panel["todo"]] == [
        ("Open alerts", 2, "/access/alerts/", True),
        ("High severity", 1, "/access/alerts/", True),
    ]
    assert "Unusual access" in response.text


def test_a_steward_sees_only_alerts_on_their_datasets(alice, carol, alerts):
    assert [a.dataset for a in selectors.alerts_open(viewer=alice)] == ["patients"]
    assert list(selectors.alerts_open(viewer=carol)) == []
    panels = {p["role"]: p for p in selectors.dashboard_panels(carol)}
    assert [i["count"] for i in panels["Unusual access"]["todo"]] == [0, 0]


@pytest.mark.parametrize(
    ("persona", "status", "rows", "buttons"),
    [
        ("petra", 200, 2, 2),
        ("ada", 200, 2, 2),
        ("audrey", 200, 2, 0),
        ("alice", 200, 1, 1),
        ("bob", 403, 0, 0),
        ("charlie", 403, 0, 0),
    ],
)
def test_the_alerts_page_permissions(
    request, client, alerts, persona, status, rows, buttons, django_assert_max_num_queries
):
    client.force_login(request.getfixturevalue(persona))

    with django_assert_max_num_queries(12):
        response = client.get(reverse("access:alerts"))

    assert response.status_code == status
    if status == 200:
        assert response.text.count("data-alert=") == rows
        assert response.text.count(">Acknowledge</button>") == buttons


def test_a_privacy_officer_acknowledges_an_alert(client, petra, alerts):
    alert = alerts[0]
    client.force_login(petra)

    response = client.post(
        reverse("access:alerts"),
        {"alert": alert.pk, "outcome": "expected", "note": "Bob was on call that Saturday."},
    )

    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == petra
    assert alert.outcome == "expected"
    entry = LedgerEntry.objects.get(event="access.alert_acknowledged")
    assert entry.actor == petra
    assert [a.pk for a in selectors.alerts_open(viewer=petra)] == [alerts[1].pk]


def test_an_auditor_cannot_acknowledge_an_alert(client, audrey, alerts):
    client.force_login(audrey)

    response = client.post(
        reverse("access:alerts"), {"alert": alerts[0].pk, "outcome": "expected", "note": "x"}
    )

    assert response.status_code == 403
    assert Alert.objects.filter(acknowledged_at__isnull=False).count() == 0
    assert not LedgerEntry.objects.filter(event="access.alert_acknowledged").exists()
