"""Alerts on unusual access. A periodic scan (``alerts_scan_task``) reads the ledger and raises
an ``Alert`` when a rule sees something worth a person's attention (docs/alerts.md):

- ``rate_spike``: a principal's check decisions in a window far above the *median* of its
  own previous windows, leaving out windows that raised a rate alert nobody explained as
  expected, so a spike never becomes the baseline that hides the next one;
- ``repeated_denials``: many denials for one principal in a window;
- ``restricted_off_hours``: an allowed check on restricted data outside working hours;
- ``bulk_export``: many exports by one person in a window (exports of subjects' personal data
  and compliance exports counted separately, against their own thresholds);
- ``large_export``: one export of many subjects, an alert of its own for every such export;
- ``failed_authentication``: many failed sign-ins (portal, Django admin) or token requests
  (``/o/token/``) for one account or client, or from one address trying several;
- ``new_datasets``: a principal reading many datasets it never read before.

Each rule is a pure function over aggregated counts (tested without a database) fed by a fixed
number of aggregation queries. Windows are aligned to multiples of ``ALERT_WINDOW_MINUTES``
since the epoch, so every scan in the same window computes the same ``window_start``, and the
unique constraint on (rule, principal, dataset, key, window_start) makes re-runs raise nothing
twice while two signals (a count of exports, one large export) each get their own alert. A
scan looks at the window ``now`` falls in (so far) and the one before it (complete), so events
written between the last scan of a window and its end are still seen.

Thresholds come from settings (see docs/alerts.md) with the defaults below.
"""

from __future__ import annotations

import statistics
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
from governance.errors import ApplicationError, Conflict
from governance.policy import require

CHECK_EVENT = "access.check"
# Exports of data subjects' personal data, counted per person against ALERT_EXPORTS_THRESHOLD.
PERSONAL_EXPORT_EVENTS = ("consent.export_started", "subject_access.package_produced")
# Compliance exports (audit log, RoPA, access report, evidence packs, registers): the daily
# work of auditors and privacy officers, counted against ALERT_COMPLIANCE_EXPORTS_THRESHOLD.
COMPLIANCE_EXPORT_EVENTS = ("compliance.export_requested",)
# Events that say how many subjects one export carried; each one at or above
# ALERT_EXPORT_ROWS_THRESHOLD is a large export.
SUBJECT_COUNT_EVENTS = ("consent.exported",)
SUBJECT_COUNT_KEYS = ("count", "subjects")
LOGIN_FAILED_EVENT = "auth.login_failed"
TOKEN_FAILED_EVENT = "auth.token_failed"  # noqa: S105 (an event name)

MSG_ALERT_FORBIDDEN = policy.MSG_ALERT_FORBIDDEN
MSG_ALERT_ALREADY_ACKNOWLEDGED = "This alert has already been acknowledged."
MSG_OUTCOME = (
    "Say what the alert turned out to be: expected activity, a false positive, or an incident."
)
MSG_OUTCOME_NOTE = "Say in a sentence what you found (who did it and why, or what you did)."
OUTCOMES = (Alert.Outcome.EXPECTED, Alert.Outcome.FALSE_POSITIVE, Alert.Outcome.INCIDENT)
# A rate alert acknowledged with one of these outcomes was ordinary traffic after all: its
# window counts in the principal's baseline again. Open alerts and incidents stay out of it.
BASELINE_OUTCOMES = (Alert.Outcome.EXPECTED, Alert.Outcome.FALSE_POSITIVE)


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
    compliance_exports_threshold: int = 20
    export_rows_threshold: int = 100_000
    auth_failures_threshold: int = 10
    new_datasets_threshold: int = 5
    new_datasets_lookback: timedelta = timedelta(days=30)

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
            compliance_exports_threshold=int(
                getattr(settings, "ALERT_COMPLIANCE_EXPORTS_THRESHOLD", 20)
            ),
            export_rows_threshold=int(getattr(settings, "ALERT_EXPORT_ROWS_THRESHOLD", 100_000)),
            auth_failures_threshold=int(getattr(settings, "ALERT_AUTH_FAILURES_THRESHOLD", 10)),
            new_datasets_threshold=int(getattr(settings, "ALERT_NEW_DATASETS_THRESHOLD", 5)),
            new_datasets_lookback=timedelta(
                days=int(getattr(settings, "ALERT_NEW_DATASETS_LOOKBACK_DAYS", 30))
            ),
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
    """What a rule saw; becomes an Alert. ``key`` tells apart two signals of one rule about
    the same principal and dataset in one window (two large exports)."""

    rule: str
    principal: str
    severity: str
    summary: str
    dataset: str = ""
    key: str = ""
    details: dict[str, Any] = field(default_factory=dict)


# --- rules: pure functions over counts ------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def rate_spike(
    counts: dict[str, dict[str, int]],
    baselines: dict[str, list[int]],
    *,
    window: Window,
    config: AlertConfig,
    left_out: dict[str, int] | None = None,
) -> list[Finding]:
    """``counts``: principal → {dataset: decisions in the window}; ``baselines``: principal →
    its decisions in each of the ``config.baseline_windows`` windows before (zeros included;
    windows that raised a rate alert nobody explained as expected are left out, ``left_out``
    says how many). Fires when the window's total exceeds max(min count, factor x median).

    The median, unlike the mean, does not move when a minority of windows spike; leaving
    alerted windows out means even a majority of spikes cannot become the baseline."""
    left_out = left_out or {}
    findings = []
    for principal, per_dataset in sorted(counts.items()):
        total = sum(per_dataset.values())
        history = baselines.get(principal, [])
        median = float(statistics.median(history)) if history else 0.0
        threshold = max(float(config.rate_min_count), config.rate_factor * median)
        if total <= threshold:
            continue
        skipped = left_out.get(principal, 0)
        findings.append(
            Finding(
                rule=Alert.Rule.RATE_SPIKE,
                principal=principal,
                severity=Alert.Severity.HIGH if total > 2 * threshold else Alert.Severity.MEDIUM,
                summary=(
                    f"{principal} made {_plural(total, 'access decision')} in {window.label()}, "
                    f"against a median of {median:,.1f} per window over the previous "
                    f"{_plural(len(history), 'window')}"
                    + (f" ({skipped} left out: they raised a rate alert)" if skipped else "")
                    + f" (alert above {threshold:,.1f})."
                ),
                details={
                    "count": total,
                    "baseline_median": median,
                    "baseline_windows": len(history),
                    "windows_left_out": skipped,
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


EXPORT_KINDS = {
    "personal": ("exports of subjects' personal data", "exports_threshold"),
    "compliance": ("compliance exports", "compliance_exports_threshold"),
}


def bulk_export(
    exports: dict[tuple[str, str], int], *, window: Window, config: AlertConfig
) -> list[Finding]:
    """``exports``: (person, kind) → exports started in the window, kind ``personal`` (consent
    exports, subject-access packages) or ``compliance``. One finding per person and kind that
    reaches its threshold; a large export is ``large_export``'s business, never folded in."""
    findings = []
    for (principal, kind), count in sorted(exports.items()):
        label, setting = EXPORT_KINDS[kind]
        threshold = getattr(config, setting)
        if count < threshold:
            continue
        findings.append(
            Finding(
                rule=Alert.Rule.BULK_EXPORT,
                principal=principal,
                key=kind,
                severity=Alert.Severity.MEDIUM,
                summary=(
                    f"{principal} started {_plural(count, 'export')} ({label}) in "
                    f"{window.label()} (alert at {threshold})."
                ),
                details={"count": count, "kind": kind, "threshold": threshold},
            )
        )
    return findings


def large_export(
    sizes: Iterable[tuple[str, int, str, int]], *, window: Window, config: AlertConfig
) -> list[Finding]:
    """``sizes``: (person, ledger entry id, event, subjects) of each export that says how many
    subjects it carried. Every export at or above the threshold is a finding of its own."""
    findings = []
    for principal, entry_id, event, subjects in sizes:
        if subjects < config.export_rows_threshold:
            continue
        findings.append(
            Finding(
                rule=Alert.Rule.LARGE_EXPORT,
                principal=principal,
                key=f"entry:{entry_id}",
                severity=Alert.Severity.HIGH,
                summary=(
                    f"{principal} exported {subjects:,} subjects in one export ({event}, ledger "
                    f"entry {entry_id}) in {window.label()} (alert at "
                    f"{config.export_rows_threshold:,})."
                ),
                details={
                    "subjects": subjects,
                    "event": event,
                    "entry": entry_id,
                    "threshold": config.export_rows_threshold,
                },
            )
        )
    return findings


@dataclass(frozen=True)
class AuthFailure:
    target: str  # "user:<username>", "service_account:<name>" or "client:<client_id>"
    address: str  # the client address, "" when unknown
    channel: str  # "sign-in" or "token"


def failed_authentication(
    failures: Iterable[AuthFailure], *, window: Window, config: AlertConfig
) -> list[Finding]:
    """One finding per account or client with at least the threshold of failures in the
    window (a password or secret being guessed), and one per address whose failures reach the
    threshold across several accounts (one password tried on many accounts)."""
    threshold = config.auth_failures_threshold
    by_target: dict[str, list[AuthFailure]] = defaultdict(list)
    by_address: dict[str, list[AuthFailure]] = defaultdict(list)
    for failure in failures:
        by_target[failure.target].append(failure)
        if failure.address:
            by_address[failure.address].append(failure)
    findings = []
    for target, items in sorted(by_target.items()):
        if len(items) < threshold:
            continue
        addresses = sorted({f.address for f in items if f.address})
        channels = sorted({f.channel for f in items})
        findings.append(
            Finding(
                rule=Alert.Rule.FAILED_AUTHENTICATION,
                principal=target,
                severity=_auth_severity(len(items), threshold),
                summary=(
                    f"{_plural(len(items), 'failed authentication')} for {target} in "
                    f"{window.label()} ({' and '.join(channels)}; from "
                    f"{_plural(len(addresses), 'address')}; alert at {threshold})."
                ),
                details={
                    "count": len(items),
                    "threshold": threshold,
                    "channels": channels,
                    "addresses": addresses[:20],
                },
            )
        )
    for address, items in sorted(by_address.items()):
        targets = sorted({f.target for f in items})
        if len(items) < threshold or len(targets) < 2:
            continue
        findings.append(
            Finding(
                rule=Alert.Rule.FAILED_AUTHENTICATION,
                principal=f"address:{address}",
                severity=_auth_severity(len(items), threshold),
                summary=(
                    f"{_plural(len(items), 'failed authentication')} from {address} in "
                    f"{window.label()}, for {_plural(len(targets), 'account')} (alert at "
                    f"{threshold})."
                ),
                details={"count": len(items), "threshold": threshold, "targets": targets[:50]},
            )
        )
    return findings


def _auth_severity(count: int, threshold: int) -> str:
    return Alert.Severity.HIGH if count * 2 >= threshold * 3 else Alert.Severity.MEDIUM


def new_datasets(
    read: dict[str, set[str]],
    read_before: dict[str, set[str]],
    *,
    window: Window,
    config: AlertConfig,
) -> list[Finding]:
    """``read``: principal → datasets it was allowed in the window; ``read_before``: principal
    → datasets it was allowed in the lookback period before the window."""
    findings = []
    for principal, datasets in sorted(read.items()):
        new = sorted(datasets - read_before.get(principal, set()))
        if len(new) < config.new_datasets_threshold:
            continue
        days = config.new_datasets_lookback.days
        findings.append(
            Finding(
                rule=Alert.Rule.NEW_DATASETS,
                principal=principal,
                severity=Alert.Severity.MEDIUM,
                summary=(
                    f"{principal} was allowed {_plural(len(new), 'dataset')} it had not used in "
                    f"the previous {_plural(days, 'day')}, in {window.label()}: "
                    + ", ".join(new[:10])
                    + (", …" if len(new) > 10 else "")
                    + f" (alert at {config.new_datasets_threshold})."
                ),
                details={
                    "count": len(new),
                    "datasets": new,
                    "threshold": config.new_datasets_threshold,
                    "lookback_days": days,
                },
            )
        )
    return findings


# --- aggregation queries --------------------------------------------------------------------


def _in(window: Window) -> Q:
    return Q(timestamp__gte=window.start, timestamp__lt=window.end)


def _checks_by_principal_and_dataset(window: Window, *, decision: str | None = None) -> dict:
    rows = (
        LedgerEntry.objects.filter(_in(window), event=CHECK_EVENT)
        .filter(**({"additional_data__decision": decision} if decision else {}))
        .annotate(p=KT("additional_data__principal"), d=KT("additional_data__dataset"))
        .values("p", "d")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        counts[row["p"] or "unknown"][row["d"] or ""] = row["n"]
    return counts


def _baselines(
    window: Window, principals: list[str], config: AlertConfig
) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Per principal, its decisions in each of the baseline windows (one query with one
    conditional count per window), without the windows that raised a rate alert that was not
    explained as expected; and how many were left out."""
    if not principals:
        return {}, {}
    starts = [
        window.start - (n + 1) * config.window for n in reversed(range(config.baseline_windows))
    ]
    before = Q(timestamp__gte=starts[0], timestamp__lt=window.start)
    aggregates = {
        f"w{n}": Count("id", filter=Q(timestamp__gte=start, timestamp__lt=start + config.window))
        for n, start in enumerate(starts)
    }
    rows = (
        LedgerEntry.objects.filter(before, event=CHECK_EVENT)
        .annotate(p=KT("additional_data__principal"))
        .filter(p__in=principals)
        .values("p")
        .annotate(**aggregates)
        .order_by()
    )
    counted = {row["p"]: [row[f"w{n}"] for n in range(len(starts))] for row in rows}
    alerted: dict[str, set[datetime]] = defaultdict(set)
    for principal, start in (
        Alert.objects.filter(
            rule=Alert.Rule.RATE_SPIKE,
            principal__in=principals,
            window_start__gte=starts[0],
            window_start__lt=window.start,
        )
        .exclude(outcome__in=BASELINE_OUTCOMES)
        .values_list("principal", "window_start")
    ):
        alerted[principal].add(start)
    baselines, left_out = {}, {}
    for principal in principals:
        per_window = counted.get(principal, [0] * len(starts))
        keep = [n for s, n in zip(starts, per_window, strict=True) if s not in alerted[principal]]
        baselines[principal] = keep
        left_out[principal] = len(starts) - len(keep)
    return baselines, left_out


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


def _exports(window: Window) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for kind, names in (
        ("personal", PERSONAL_EXPORT_EVENTS),
        ("compliance", COMPLIANCE_EXPORT_EVENTS),
    ):
        for row in (
            LedgerEntry.objects.filter(_in(window), event__in=names)
            .values("actor_label")
            .annotate(n=Count("id"))
            .order_by()
        ):
            counts[(_exporter(row["actor_label"]), kind)] = row["n"]
    return counts


def _export_sizes(window: Window) -> list[tuple[str, int, str, int]]:
    sizes = []
    for pk, label, event, data in (
        LedgerEntry.objects.filter(_in(window), event__in=SUBJECT_COUNT_EVENTS)
        .values_list("pk", "actor_label", "event", "additional_data")
        .order_by("id")
    ):
        for key in SUBJECT_COUNT_KEYS:
            value = (data or {}).get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                sizes.append((_exporter(label), pk, event, value))
                break
    return sizes


def _auth_failures(window: Window) -> list[AuthFailure]:
    failures = []
    for event, data, address in (
        LedgerEntry.objects.filter(_in(window), event__in=(LOGIN_FAILED_EVENT, TOKEN_FAILED_EVENT))
        .values_list("event", "additional_data", "remote_addr")
        .order_by("id")
    ):
        data = data or {}
        if event == LOGIN_FAILED_EVENT:
            target, channel = f"{USER}:{data.get('username', '')}", "sign-in"
        elif data.get("service_account"):
            target, channel = f"service_account:{data['service_account']}", "token"
        else:
            target, channel = f"client:{data.get('client_id', '')}", "token"
        failures.append(AuthFailure(target=target, address=address or "", channel=channel))
    return failures


def _allowed_datasets(window: Window, principals: list[str] | None = None) -> dict:
    rows = (
        LedgerEntry.objects.filter(_in(window), event=CHECK_EVENT)
        .filter(additional_data__decision="allow")
        .annotate(p=KT("additional_data__principal"), d=KT("additional_data__dataset"))
    )
    if principals is not None:
        rows = rows.filter(p__in=principals)
    read: dict[str, set[str]] = defaultdict(set)
    for principal, dataset in rows.values_list("p", "d").distinct():
        if dataset:
            read[principal or "unknown"].add(dataset)
    return read


def _new_datasets(window: Window, config: AlertConfig) -> list[Finding]:
    read = {
        p: d
        for p, d in _allowed_datasets(window).items()
        if len(d) >= config.new_datasets_threshold
    }
    if not read:
        return []
    before = Window(window.start - config.new_datasets_lookback, window.start)
    return new_datasets(read, _allowed_datasets(before, sorted(read)), window=window, config=config)


def findings_for(window: Window, config: AlertConfig) -> list[Finding]:
    """Every rule's findings for one window."""
    counts = _checks_by_principal_and_dataset(window)
    candidates = [p for p, d in counts.items() if sum(d.values()) > config.rate_min_count]
    baselines, left_out = _baselines(window, candidates, config)
    findings = rate_spike(
        {p: counts[p] for p in candidates},
        baselines,
        window=window,
        config=config,
        left_out=left_out,
    )
    findings += repeated_denials(
        _checks_by_principal_and_dataset(window, decision="deny"), window=window, config=config
    )
    findings += restricted_off_hours(_restricted_allows(window), window=window, config=config)
    findings += bulk_export(_exports(window), window=window, config=config)
    findings += large_export(_export_sizes(window), window=window, config=config)
    findings += failed_authentication(_auth_failures(window), window=window, config=config)
    findings += _new_datasets(window, config)
    return findings


# --- services -------------------------------------------------------------------------------


def alerts_scan(*, now: datetime | None = None) -> list[Alert]:
    """Run every rule over the window ``now`` falls in and the one before; raise the alerts
    not raised yet (idempotent) and return them. The earlier window goes first, so its alerts
    are known when the later window's baseline is computed."""
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
        key=finding.key,
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
    data = {
        "rule": alert.rule,
        "principal": alert.principal,
        "dataset": alert.dataset,
        "severity": alert.severity,
        "summary": alert.summary,
    }
    if alert.key:
        data["key"] = alert.key
    audit.record(action="access.alert_raised", target=alert, data=data)
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
    named = (alert.details or {}).get("datasets") or {}
    slugs = set(named) if isinstance(named, dict | list) else set()
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


@audit.records_refusal("access.alert_refused", target="alert", actor="actor")
@transaction.atomic(durable=True)
def alert_acknowledge(*, actor: User, alert: Alert, outcome: str, note: str) -> Alert:
    """Close an alert with what it turned out to be (``outcome``) and a note saying why;
    recorded as ``access.alert_acknowledged``. A rate alert acknowledged as expected or as a
    false positive puts its window back into the principal's baseline."""
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    require(policy.may_acknowledge_alert(actor, alert))
    if alert.acknowledged_at is not None:
        raise Conflict(MSG_ALERT_ALREADY_ACKNOWLEDGED)
    if outcome not in OUTCOMES:
        raise ApplicationError(MSG_OUTCOME, {"field": "outcome"})
    note = (note or "").strip()
    if not note:
        raise ApplicationError(MSG_OUTCOME_NOTE, {"field": "note"})
    alert.acknowledged_by = actor
    alert.acknowledged_at = timezone.now()
    alert.outcome = outcome
    alert.outcome_note = note
    alert.save(update_fields=["acknowledged_by", "acknowledged_at", "outcome", "outcome_note"])
    audit.record(
        action="access.alert_acknowledged",
        target=alert,
        actor=actor,
        data={
            "rule": alert.rule,
            "principal": alert.principal,
            "dataset": alert.dataset,
            "outcome": outcome,
            "note": note,
        },
    )
    return alert
