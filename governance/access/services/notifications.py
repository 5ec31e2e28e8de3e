"""Email notifications, sent after the transaction commits (a rolled-back decision sends
nothing). Addresses come from the user records; the body names no data subject."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction


def notify(*, to: list[str], subject: str, body: str) -> None:
    recipients = sorted({address for address in to if address})
    if not recipients:
        return

    def send():
        send_mail(
            subject=f"[Governance] {subject}",
            message=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
            fail_silently=True,
        )

    transaction.on_commit(send)


def link(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"
