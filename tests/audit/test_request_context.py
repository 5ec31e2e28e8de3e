"""What a request leaves behind in its thread: nothing of the caller (its actor and request id
are gone when the answer leaves), but the process's cache client and its Redis connections
stay, so the next request does not connect to Redis again (issue 14: every API call paid a
TCP connect for its throttle)."""

from __future__ import annotations

import threading

import pytest
from redis.connection import AbstractConnection

from governance.audit.context import current_actor, get_request_id
from tests.access.test_check_api import call
from tests.accounts.factories import make_service_account
from tests.test_api_shell import _token_for

BODY = {"dataset": "no-such-dataset", "purpose": "no-such-purpose"}


@pytest.fixture
def token(bob, db):
    account, _ = make_service_account(bob, name="context-probe")
    return _token_for(account)


def test_a_request_leaves_no_actor_and_no_request_id_behind(api_client, token):
    # when a job's request is answered in this thread
    response = call(api_client, token, BODY)
    assert response.status_code == 200
    assert response["X-Request-ID"]
    # then nothing written afterwards in the thread is attributed to that job or request
    assert current_actor() is None
    assert get_request_id() is None


def test_requests_in_a_fresh_worker_thread_connect_to_redis_once(api_client, db, monkeypatch):
    # given a count of the connections the Redis client opens
    connects = []
    original = AbstractConnection.connect

    def counting_connect(self, *args, **kwargs):
        if self._sock is None:
            connects.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "connect", counting_connect)
    statuses = []

    def worker():
        # a thread that has touched nothing yet, as a gunicorn worker between requests; the
        # token is not one (the test's own tokens are not visible outside its transaction),
        # which the throttle gate counts in Redis just the same
        for _ in range(4):
            statuses.append(call(api_client, "not-a-token", BODY).status_code)

    # when four API calls (each counted in Redis) are answered one after another there
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    # then they shared one connection instead of opening one each
    assert statuses == [401] * 4
    assert len(connects) == 1
