"""Alerts on unusual access. A periodic scan (``alerts_scan_task``) reads the ledger and raises
an ``Alert`` when a rule sees something worth a person's attention:

- ``rate_spike``: a principal's check decisions in a window far above its own baseline;
- ``repeated_denials``: many denials for one principal in a window;
- ``restricted_off_hours``: an allowed check on restricted data outside working hours;
- ``bulk_export``: many exports by one person in a window, or one very large export.

Each rule is a pure function over aggregated counts (tested without a database) fed by one
aggregation query. Windows are aligned to multiples of ``ALERT_WINDOW_MINUTES`` since the epoch,
so every scan in the same window computes the same ``window_start`` and the unique constraint
on (rule, principal, dataset, window_start) makes re-runs raise nothing twice. A scan looks at
the window ``now`` falls in (so far) and the one before it (complete), so events written
between the last scan of a window and its end are still seen.

Thresholds come from settings (see docs/alerts.md) with the defaults below.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Count, Q
from django.db.models.fields.json import KT
from django.urls import reverse
from django.utils import timezone

from datasets.models import Dataset
from datasets.services import dataset_stewards
from governance.access import policy
from governance.access.models import Alert
from governance.access.services.common import people_with_role
from governance.access.services.notifications import link, notify
from governance.accounts.models import User
from governance.accounts.principal import USER
from governance.accounts.roles import Role
from governance.audit import services as audit
from governance.audit.models import LedgerEntry
from governance.errors import ApplicationError
from governance.policy import require

CHECK_EVENT = "access.check"
# One event per export started (counted towards the bulk rule) ...
EXPORT_START_EVENTS = ("compliance.export_requested", "consent.export_started")
# ... and every export event, inspected for a size.
EXPORT_EVENTS = (
    *EXPORT_START_EVENTS,
    "compliance.export_completed",
    "compliance.export_downloaded",
    "consent.exported",
)
EXPORT_SIZE_KEYS = ("count", "rows", "row_count", "subjects")

MSG_ALERT_FORBIDDEN = policy.MSG_ALERT_FORBIDDEN
MSG_ALERT_ALREADY_ACKNOWLEDGED = "This alert has already been acknowledged."


# --- configuration ------------------------------------------------------------------------


def _ranges(value: str, name: str, *, low: int, high: int) -> frozenset[int]:
    """ "0-4" or "0,2,5-6" → the set of integers named; ImproperlyConfigured otherwise."""
    numbers: set[int] = set()
    try:
        for part in str(value).split(","):
            start, _, end = part.strip().partition("-")
            first, last = int(start), int(end or start)
            if not (low <= first <= last <= high):
                raise ValueError
            numbers.update(range(first, last + 1))
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be a range like {low}-{high} or a list like 0,2,5-6 "
            f"(numbers {low} to {high}); got {value!r}."
        ) from None
    return frozenset(numbers)


def _hours(value: str) -> tuple[int, int]:
    start, _, end = str(value).partition("-")
    try:
        first, last = int(start), int(end)
        if not (0 <= first < last <= 24):
            raise ValueError
    except ValueError:
        raise ImproperlyConfigured(
            f"ALERT_RESTRICTED_HOURS must look like 07-20 (start hour before end hour, UTC); "
            f"got {value!r}."
        ) from None
    return first, last


@dataclass(frozen=True)
class AlertConfig:
    window: timedelta = timedelta(minutes=60)
    rate_factor: float = 5.0
    rate_min_count: int = 50
    baseline_windows: int = 24
    denials_threshold: int = 10
    restricted_hours: tuple[int, int] = (7, 20)
    restricted_weekdays: frozenset[int] = frozenset(range(5))
    exports_threshold: int = 3
    export_rows_threshold: int = 100_000

    @classmethod
    def from_settings(cls) -> AlertConfig:
        minutes = int(getattr(settings, "ALERT_WINDOW_MINUTES", 60))
        if minutes < 1:
            raise ImproperlyConfigured("ALERT_WINDOW_MINUTES must be at least 1.")
        return cls(
            window=timedelta(minutes=minutes),
            rate_factor=float(getattr(settings, "ALERT_RATE_FACTOR", 5)),
            rate_min_count=int(getattr(settings, "ALERT_RATE_MIN_COUNT", 50)),
            baseline_windows=max(1, int(getattr(settings, "ALERT_BASELINE_WINDOWS", 24))),
            denials_threshold=int(getattr(settings, "ALERT_DENIALS_THRESHOLD", 10)),
            restricted_hours=_hours(getattr(settings, "ALERT_RESTRICTED_HOURS", "07-20")),
            restricted_weekdays=_ranges(
                getattr(settings, "ALERT_RESTRICTED_WEEKDAYS", "0-4"),
                "ALERT_RESTRICTED_WEEKDAYS",
                low=0,
                high=6,
            ),
            exports_threshold=int(getattr(settings, "ALERT_EXPORTS_THRESHOLD", 3)),
            export_rows_threshold=int(getattr(settings, "ALERT_EXPORT_ROWS_THRESHOLD", 100_000)),
        )


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime  # exclusive; for the window ``now`` falls in, ``now`` itself

    def label(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} to {self.end:%H:%M} UTC"


def windows_for(now: datetime, size: timedelta) -> list[Window]:
    """The window before the one ``now`` falls in (complete), and that one up to ``now``."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    start = epoch + ((now - epoch) // size) * size
    windows = [Window(start - size, start)]
    if now > start:
        windows.append(Window(start, now))
    return windows


@dataclass(frozen=True)
class Finding:
    """What a rule saw; becomes an Alert."""

    rule: str
    principal: str
    severity: str
    summary: str
    dataset: str = ""
    details: dict[str, Any] = field(default_factory=dict)


# --- rules: pure functions over counts ------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def rate_spike(
    counts: dict[str, dict[str, int]],
    baselines: dict[str, int],
    *,
    window: Window,
    config: AlertConfig,
) -> list[Finding]:
    """``counts``: principal → {dataset: decisions in the window}; ``baselines``: principal →
    decisions in the ``config.baseline_windows`` windows before it. Fires when the window's
    total exceeds max(min count, factor x mean per baseline window)."""
    findings = []
    for principal, per_dataset in sorted(counts.items()):
        total = sum(per_dataset.values())
        mean = baselines.get(principal, 0) / config.baseline_windows
        threshold = max(config.rate_min_count, config.rate_factor * mean)
        if total <= threshold:
            continue
        findings.append(
            Finding(
                rule=Alert.Rule.RATE_SPIKE,
                principal=principal,
                severity=Alert.Severity.HIGH if total > 2 * threshold else Alert.Severity.MEDIUM,
                summary=(
                    f"{principal} made {_plural(total, 'access decision')} in {window.label()}, "
                    f"against a baseline of {mean:,.1f} per window over the previous "
                    f"{_plural(config.baseline_windows, 'window')} (alert above "
                    f"{threshold:,.1f})."
                ),
                details={
                    "count": total,
                    "baseline_mean": round(mean, 2),
                    "baseline_windows": config.baseline_windows,
                    "threshold": threshold,
                    "datasets": dict(sorted(per_dataset.items())),
                },
            )
        )
    return findings


def repeated_denials(
    denials: dict[str, dict[str, int]], *, window: Window, config: AlertConfig
) -> list[Finding]:
    """``denials``: principal → {dataset: denials in the window}."""
    findings = []
    for principal, per_dataset in sorted(denials.items()):
        total = sum(per_dataset.values())
        if total < config.denials_threshold:
            continue
        findings.append(
            Finding(
                rule=Alert.Rule.REPEATED_DENIALS,
                principal=principal,
                severity=Alert.Severity.MEDIUM,
                summary=(
                    f"{principal} was denied {_plural(total, 'time')} in {window.label()} "
                    f"(alert at {config.denials_threshold}), on "
                    + ", ".join(f"{slug} ({n})" for slug, n in sorted(per_dataset.items()))
                    + "."
                ),
                details={
                    "count": total,
                    "threshold": config.denials_threshold,
                    "datasets": dict(sorted(per_dataset.items())),
                },
            )
        )
    return findings


def is_working_time(moment: datetime, config: AlertConfig) -> bool:
    moment = moment.astimezone(UTC)
    start, end = config.restricted_hours
    return moment.weekday() in config.restricted_weekdays and start <= moment.hour < end


def restricted_off_hours(
    allows: Iterable[tuple[str, str, datetime]], *, window: Window, config: AlertConfig
) -> list[Finding]:
    """``allows``: (principal, dataset, time) of every allowed check on restricted data in the
    window; one finding per principal and dataset used outside working time."""
    seen: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for principal, dataset, moment in allows:
        if not is_working_time(moment, config):
            seen[(principal, dataset)].append(moment.astimezone(UTC))
    start, end = config.restricted_hours
    findings = []
    for (principal, dataset), moments in sorted(seen.items()):
        moments.sort()
        findings.append(
            Finding(
                rule=Alert.Rule.RESTRICTED_OFF_HOURS,
                principal=principal,
                dataset=dataset,
                severity=Alert.Severity.HIGH,
                summary=(
                    f"{principal} was allowed restricted dataset {dataset} "
                    f"{_plural(len(moments), 'time')} outside working hours "
                    f"({start:02d}:00-{end:02d}:00 UTC, weekdays "
                    f"{_weekday_names(config.restricted_weekdays)}), first at "
                    f"{moments[0]:%a %Y-%m-%d %H:%M} UTC."
                ),
                details={
                    "count": len(moments),
                    "times": [m.isoformat() for m in moments[:20]],
                    "hours": f"{start:02d}-{end:02d}",
                    "weekdays": sorted(config.restricted_weekdays),
                },
            )
        )
    return findings


def _weekday_names(days: Iterable[int]) -> str:
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    return ", ".join(names[d] for d in sorted(days))


def bulk_export(
    exports: dict[str, int],
    sizes: Iterable[tuple[str, str, int]],
    *,
    window: Window,
    config: AlertConfig,
) -> list[Finding]:
    """``exports``: principal → exports started in the window; ``sizes``: (principal, event,
    rows or subjects) of each export event that carries a count."""
    findings = []
    for principal, count in sorted(exports.items()):
        if count >= config.exports_threshold:
            findings.append(
                Finding(
                    rule=Alert.Rule.BULK_EXPORT,
                    principal=principal,
                    severity=Alert.Severity.MEDIUM,
                    summary=(
                        f"{principal} started {_plural(count, 'export')} in {window.label()} "
                        f"(alert at {config.exports_threshold})."
                    ),
                    details={"count": count, "threshold": config.exports_threshold},
                )
            )
    largest: dict[str, tuple[int, str]] = {}
    for principal, event, rows in sizes:
        if rows >= config.export_rows_threshold and rows > largest.get(principal, (-1, ""))[0]:
            largest[principal] = (rows, event)
    for principal, (rows, event) in sorted(largest.items()):
        findings.append(
            Finding(
                rule=Alert.Rule.BULK_EXPORT,
                principal=principal,
                severity=Alert.Severity.HIGH,
                summary=(
                    f"{principal} exported {rows:,} rows or subjects in one export ({event}) in "
                    f"{window.label()} (alert at {config.export_rows_threshold:,})."
                ),
                details={
                    "rows": rows,
                    "event": event,
                    "threshold": config.export_rows_threshold,
                    "kind": "size",
                },
            )
        )
    return _merge_same_key(findings)


def _merge_same_key(findings: list[Finding]) -> list[Finding]:
    """One alert per (rule, principal, dataset, window): when a principal trips both bulk
    export checks, keep one finding that tells both."""
    merged: dict[tuple[str, str, str], Finding] = {}
    for finding in findings:
        key = (finding.rule, finding.principal, finding.dataset)
        if key in merged:
            first = merged[key]
            merged[key] = Finding(
                rule=first.rule,
                principal=first.principal,
                dataset=first.dataset,
                severity=max(first.severity, finding.severity, key=_severity_rank),
                summary=f"{first.summary} {finding.summary}",
                details={**first.details, **finding.details, "count": first.details.get("count")},
            )
        else:
            merged[key] = finding
    return list(merged.values())


def _severity_rank(severity: str) -> int:
    return [Alert.Severity.MEDIUM, Alert.Severity.HIGH].index(severity)


# --- aggregation queries --------------------------------------------------------------------


def _in(window: Window) -> Q:
    return Q(timestamp__gte=window.start, timestamp__lt=window.end)


def _checks_by_principal_and_dataset(window: Window, *, denied: bool) -> dict:
    rows = (
        LedgerEntry.objects.filter(_in(window), event=CHECK_EVENT)
        .filter(**({"additional_data__decision": "deny"} if denied else {}))
        .annotate(p=KT("additional_data__principal"), d=KT("additional_data__dataset"))
        .values("p", "d")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        counts[row["p"] or "unknown"][row["d"] or ""] = row["n"]
    return counts


def _baselines(window: Window, principals: list[str], config: AlertConfig) -> dict[str, int]:
    if not principals:
        return {}
    before = Window(window.start - config.baseline_windows * config.window, window.start)
    rows = (
        LedgerEntry.objects.filter(_in(before), event=CHECK_EVENT)
        .annotate(p=KT("additional_data__principal"))
        .filter(p__in=principals)
        .values("p")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["p"]: row["n"] for row in rows}


def _restricted_allows(window: Window) -> list[tuple[str, str, datetime]]:
    rows = (
        LedgerEntry.objects.filter(
            _in(window),
            event=CHECK_EVENT,
            additional_data__decision="allow",
            additional_data__facts__dataset_sensitivity="restricted",
        )
        .annotate(p=KT("additional_data__principal"), d=KT("additional_data__dataset"))
        .values_list("p", "d", "timestamp")
        .order_by("timestamp")
    )
    return [(p or "unknown", d or "", t) for p, d, t in rows]


def _exporter(actor_label: str) -> str:
    # Exports are started by people; the ledger keeps their username as the actor label.
    return f"{USER}:{actor_label}" if actor_label else "system"


def _exports(window: Window) -> tuple[dict[str, int], list[tuple[str, str, int]]]:
    started = (
        LedgerEntry.objects.filter(_in(window), event__in=EXPORT_START_EVENTS)
        .values("actor_label")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {_exporter(row["actor_label"]): row["n"] for row in started}
    sizes = []
    for label, event, data in (
        LedgerEntry.objects.filter(_in(window), event__in=EXPORT_EVENTS)
        .values_list("actor_label", "event", "additional_data")
        .order_by("timestamp")
    ):
        for key in EXPORT_SIZE_KEYS:
            value = (data or {}).get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                sizes.append((_exporter(label), event, value))
                break
    return counts, sizes


def findings_for(window: Window, config: AlertConfig) -> list[Finding]:
    """Every rule's findings for one window."""
    counts = _checks_by_principal_and_dataset(window, denied=False)
    candidates = [p for p, d in counts.items() if sum(d.values()) > config.rate_min_count]
    findings = rate_spike(
        {p: counts[p] for p in candidates},
        _baselines(window, candidates, config),
        window=window,
        config=config,
    )
    findings += repeated_denials(
        _checks_by_principal_and_dataset(window, denied=True), window=window, config=config
    )
    findings += restricted_off_hours(_restricted_allows(window), window=window, config=config)
    started, sizes = _exports(window)
    findings += bulk_export(started, sizes, window=window, config=config)
    return findings


# --- services -------------------------------------------------------------------------------


def alerts_scan(*, now: datetime | None = None) -> list[Alert]:
    """Run every rule over the window ``now`` falls in and the one before; raise the alerts
    not raised yet (idempotent) and return them."""
    now = now or timezone.now()
    config = AlertConfig.from_settings()
    raised = []
    for window in windows_for(now, config.window):
        for finding in findings_for(window, config):
            alert = alert_raise(finding=finding, window=window)
            if alert is not None:
                raised.append(alert)
    return raised


@transaction.atomic(durable=True)
def alert_raise(*, finding: Finding, window: Window) -> Alert | None:
    """Store one finding as an alert, record ``access.alert_raised`` and email the dataset's
    stewards and the privacy officers; None when this window already has it."""
    alert, created = Alert.objects.get_or_create(
        rule=finding.rule,
        principal=finding.principal,
        dataset=finding.dataset,
        window_start=window.start,
        defaults={
            "window_end": window.end,
            "severity": finding.severity,
            "summary": finding.summary,
            "details": finding.details,
        },
    )
    if not created:
        return None
    audit.record(
        action="access.alert_raised",
        target=alert,
        data={
            "rule": alert.rule,
            "principal": alert.principal,
            "dataset": alert.dataset,
            "severity": alert.severity,
            "summary": alert.summary,
        },
    )
    notify(
        to=[person.email for person in alert_recipients(alert)],
        subject=f"Alert: {alert.get_rule_display().lower()} by {alert.principal}",
        body=(
            f"{alert.summary}\n\n"
            "Review and acknowledge it on the alerts page:\n"
            f"{link(reverse('access:alerts'))}\n"
        ),
    )
    return alert


def alert_datasets(alert: Alert) -> list[str]:
    """The datasets an alert concerns: its own, or those its counts name."""
    slugs = set((alert.details or {}).get("datasets") or {})
    if alert.dataset:
        slugs.add(alert.dataset)
    return sorted(slug for slug in slugs if slug)


def alert_recipients(alert: Alert) -> list[User]:
    people: dict[int, User] = {}
    for dataset in Dataset.objects.filter(slug__in=alert_datasets(alert)):
        for steward in dataset_stewards(dataset):
            if steward.is_active:
                people[steward.pk] = steward
    for officer in people_with_role(Role.PRIVACY_OFFICER):
        people[officer.pk] = officer
    return sorted(people.values(), key=lambda u: u.username)


@transaction.atomic(durable=True)
def alert_acknowledge(*, actor: User, alert: Alert) -> Alert:
    """Mark an alert as seen and handled by ``actor``; recorded as ``access.alert_acknowledged``."""
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    require(policy.may_acknowledge_alert(actor, alert))
    if alert.acknowledged_at is not None:
        raise ApplicationError(MSG_ALERT_ALREADY_ACKNOWLEDGED)
    alert.acknowledged_by = actor
    alert.acknowledged_at = timezone.now()
    alert.save(update_fields=["acknowledged_by", "acknowledged_at"])
    audit.record(
        action="access.alert_acknowledged",
        target=alert,
        actor=actor,
        data={"rule": alert.rule, "principal": alert.principal, "dataset": alert.dataset},
    )
    return alert
