"""Signals other apps may listen to (consent imports none of them).

``consent_withdrawn`` is sent after the transaction that recorded one or more withdrawals or
revocations has committed, with ``event_ids`` (a list of ConsentEvent primary keys). The
retention app uses it to schedule erasure; a receiver must not assume it runs in a request."""

from django.dispatch import Signal

consent_withdrawn = Signal()
