"""Receivers: a withdrawal in the consent registry schedules an erasure dispatch at once
(the hourly beat job is the safety net)."""

from django.dispatch import receiver

from consent.signals import consent_withdrawn


@receiver(consent_withdrawn, dispatch_uid="retention.erasure_on_withdrawal")
def schedule_erasure(sender, event_ids, **kwargs) -> None:
    from governance.retention.models import RetentionPolicy
    from governance.retention.tasks import erasure_dispatch_task

    if RetentionPolicy.objects.filter(enabled=True).exists():
        erasure_dispatch_task.delay()
