"""Receivers: a withdrawal in the consent registry schedules an erasure dispatch at once
(the hourly beat job is the safety net)."""

import logging

from django.dispatch import receiver

from consent.signals import consent_withdrawn

logger = logging.getLogger(__name__)


@receiver(consent_withdrawn, dispatch_uid="retention.erasure_on_withdrawal")
def schedule_erasure(sender, event_ids, **kwargs) -> None:
    from governance.retention.models import RetentionPolicy
    from governance.retention.tasks import erasure_dispatch_task

    if RetentionPolicy.objects.filter(enabled=True).exists():
        # The withdrawal has committed; a broker that cannot be reached must not turn it into
        # an error for the caller. The hourly erasure dispatch picks the subjects up.
        try:
            erasure_dispatch_task.delay()
        except Exception:
            logger.warning(
                "could not enqueue the erasure dispatch after withdrawals %s; the hourly "
                "dispatch will erase the subjects",
                event_ids,
                exc_info=True,
            )
