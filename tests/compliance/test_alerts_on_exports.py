"""Ordinary traffic does not page anyone: an auditor's routine exports raise no alert."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from governance.access.alerts import alerts_scan
from governance.access.models import Alert
from tests.compliance.conftest import run


def test_an_auditors_routine_exports_page_nobody(audrey, petra, granted, mailoutbox):
    # given: audrey's monthly routine, within one hour
    now = timezone.now()
    period = {"start": now - timedelta(days=30), "end": now + timedelta(minutes=1)}
    run(audrey, "audit_log", **period)
    run(audrey, "access_report", **period)
    run(audrey, "ropa")
    run(audrey, "ropa", fmt="csv")
    run(audrey, "evidence_pack", dataset="support-tickets")
    run(audrey, "evidence_pack", dataset="support-tickets")

    # when
    raised = alerts_scan(now=timezone.now())

    # then
    assert raised == []
    assert Alert.objects.count() == 0
    assert mailoutbox == []
