"""Consent statistics per purpose: the state of every subject now, and month by month how many
consents were given, withdrawn and expired — drawn as a server-rendered SVG line chart (no
JavaScript library; the numbers are also in a table for screen readers and printing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncMonth
from django.utils import timezone

from consent import policy
from consent.identifiers import add_months
from consent.models import ConsentEvent, ConsentState, Purpose
from consent.vocab import VALID_FOR_PROCESSING, WITHDRAWALS, ConsentStatus

MAX_MONTHS = 36


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    color: str
    values: list[int]


def _month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _by_month(queryset, field: str) -> dict[tuple[int, int], int]:
    rows = queryset.annotate(month=TruncMonth(field)).values("month").annotate(n=Count("id"))
    return {(row["month"].year, row["month"].month): row["n"] for row in rows}


def state_summary(*, purpose: Purpose, now: datetime | None = None) -> dict[str, int]:
    """How many subjects are in each situation now (one query over the state table)."""
    now = now or timezone.now()
    valid_now = policy.valid_at_q(now)
    lapsed = Q(status__in=sorted(VALID_FOR_PROCESSING)) & ~valid_now
    counts = ConsentState.objects.filter(purpose=purpose).aggregate(
        subjects=Count("id"),
        valid=Count("id", filter=valid_now),
        expired=Count("id", filter=lapsed | Q(status=ConsentStatus.EXPIRED)),
        withdrawn=Count("id", filter=Q(status__in=sorted(WITHDRAWALS))),
        refused=Count("id", filter=Q(status=ConsentStatus.REFUSED)),
    )
    counts["other"] = counts["subjects"] - sum(
        counts[k] for k in ("valid", "expired", "withdrawn", "refused")
    )
    return counts


def monthly_flows(
    *, purpose: Purpose, months: int = 12, now: datetime | None = None
) -> tuple[list[datetime], list[Series]]:
    """Per calendar month (UTC), the last ``months`` months up to now: consents given (or
    renewed), withdrawn (or revoked), and expired — lapsed past their validity with no later
    event before that moment, or marked expired by a source."""
    now = now or timezone.now()
    months = max(1, min(months, MAX_MONTHS))
    first = add_months(_month_start(now), -(months - 1))
    buckets = [add_months(first, i) for i in range(months)]
    events = ConsentEvent.objects.filter(purpose=purpose)
    in_window = events.filter(occurred_at__gte=first, occurred_at__lte=now)
    given = _by_month(in_window.filter(status__in=sorted(VALID_FOR_PROCESSING)), "occurred_at")
    withdrawn = _by_month(in_window.filter(status__in=sorted(WITHDRAWALS)), "occurred_at")
    marked = _by_month(in_window.filter(status=ConsentStatus.EXPIRED), "occurred_at")
    superseded = ConsentEvent.objects.filter(
        subject_id=OuterRef("subject_id"),
        purpose_id=OuterRef("purpose_id"),
        occurred_at__lte=OuterRef("valid_until"),
    ).filter(
        Q(occurred_at__gt=OuterRef("occurred_at"))
        | Q(occurred_at=OuterRef("occurred_at"), id__gt=OuterRef("id"))
    )
    lapsed = _by_month(
        events.filter(
            status__in=sorted(VALID_FOR_PROCESSING), valid_until__gte=first, valid_until__lte=now
        ).filter(~Exists(superseded)),
        "valid_until",
    )

    def values(*counts: dict) -> list[int]:
        return [sum(c.get((b.year, b.month), 0) for c in counts) for b in buckets]

    return buckets, [
        Series("given", "Given or renewed", "#2e7d32", values(given)),
        Series("withdrawn", "Withdrawn or revoked", "#c62828", values(withdrawn)),
        Series("expired", "Expired", "#ef6c00", values(lapsed, marked)),
    ]


def _nice_ceiling(value: int) -> int:
    if value <= 4:
        return 4
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return int(step * magnitude)
    return value  # pragma: no cover


def line_chart(
    buckets: list[datetime], series: list[Series], *, width: int = 960, height: int = 300
) -> dict:
    """Geometry for the SVG template: one polyline per series, gridlines, axis labels (at most
    twelve month labels, so they never overlap)."""
    left, right, top, bottom = 56, 36, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    ceiling = _nice_ceiling(max([v for s in series for v in s.values] or [0]))
    count = len(buckets)
    step = plot_w / max(count - 1, 1)

    def x(i: int) -> float:
        return round(left + i * step, 1)

    def y(v: int) -> float:
        return round(top + plot_h - (v / ceiling) * plot_h, 1)

    ticks = [round(ceiling * i / 4) for i in range(5)]
    label_every = -(-count // 12)  # ceiling division
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "bottom": top + plot_h,
        "gridlines": [{"y": y(t), "label": t} for t in ticks],
        "labels": [
            {"x": x(i), "text": b.strftime("%b %y"), "y": top + plot_h + 22}
            for i, b in enumerate(buckets)
            if (count - 1 - i) % label_every == 0
        ],
        "series": [
            {
                "key": s.key,
                "label": s.label,
                "color": s.color,
                "points": " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(s.values)),
                "dots": [
                    {"x": x(i), "y": y(v), "value": v, "month": buckets[i].strftime("%b %Y")}
                    for i, v in enumerate(s.values)
                ],
            }
            for s in series
        ],
    }
