"""A refused request is logged once, as one line, without a traceback (issue 17)."""

from __future__ import annotations

import logging

import pytest


@pytest.mark.django_db
def test_a_403_is_logged_once_without_a_traceback(client, bob, caplog):
    from governance.logfilters import ClientErrorsWithoutTraceback

    client.force_login(bob)
    handler = logging.getLogger("django").handlers[0]
    assert any(isinstance(f, ClientErrorsWithoutTraceback) for f in handler.filters)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/audit/")
    assert response.status_code == 403
    records = [r for r in caplog.records if r.name == "django.request"]
    assert len(records) == 1
    assert records[0].getMessage().startswith("Forbidden")
    # the console handler's filter drops the traceback of a client error
    assert handler.filter(records[0])
    assert records[0].exc_info is None
    assert not logging.getLogger("django").propagate
