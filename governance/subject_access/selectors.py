"""What subject access contributes to other pages: the dashboard's panel."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from governance.accounts.models import User
from governance.subject_access import policy
from governance.subject_access.models import SubjectAccessRequest


def dashboard_panels(user: User) -> list[dict]:
    if policy.may_read(user) is not None:
        return []
    today = timezone.now().date()
    open_ = SubjectAccessRequest.objects.filter(status=SubjectAccessRequest.Status.OPEN)
    return [
        {
            "role": "Subject access",
            "stats": [
                ("Open requests", open_.count()),
                ("Past their deadline", open_.filter(due_on__lt=today).count()),
            ],
            "link": ("Subject access", reverse("subject_access:requests")),
        }
    ]
