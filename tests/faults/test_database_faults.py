"""Fail closed, end to end, when PostgreSQL is unreachable or unresponsive (issue "Correct
under faults", item 1): a real server (gunicorn, DEBUG off) talks to PostgreSQL through a TCP
proxy that is killed, frozen and restored. While the database is gone the check, the consent
filter, the consent export and the token endpoint answer 503 `unavailable` with Retry-After —
never a 500, never an allow — and they answer within a bounded time; once it is back, the
answers are right again."""

from __future__ import annotations

import json
import time

import pytest
import requests

from consent import services as consent
from consent.services.grants import service_account_consent_grant
from datasets import services as catalog
from governance.access import services as access
from tests.accounts.factories import UserFactory, make_service_account
from tests.consent.factories import event, make_purpose
from tests.datasets.factories import ANSWERS, make_dataset
from tests.support.faults import Server, TcpProxy, server_environment
from tests.test_api_shell import _token_for

# The bound a caller can rely on: each path's deadline (REQUEST_DEADLINES) plus slack for a
# busy 2-core machine. A hang (the bug this guards against) lasts until the client gives up.
SLACK = 4
ANSWERS_WITHIN = 20  # the client's own patience, far above every bound asserted here


@pytest.fixture
def governed(transactional_db):
    """tickets (approved) serves routing and churn; router-job holds an acknowledged grant and
    may query consent; c-1 and c-2 consented to churn."""
    alice = UserFactory(username="alice", roles=["steward"])
    petra = UserFactory(username="petra", roles=["privacy_officer"])
    bob = UserFactory(username="bob", roles=["engineer"])
    make_purpose(
        "routing",
        legal_basis="legitimate_interests",
        owner=alice,
        data_categories=["user.contact"],
    )
    make_purpose("churn", owner=alice, data_categories=["user.contact"])
    tickets = make_dataset(
        alice,
        slug="tickets",
        fields={"email": ("user.contact.email", "direct_identifier", "", "drop")},
    )
    catalog.dataset_submit(actor=alice, dataset=tickets, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=tickets)
    access.purpose_approval_create(actor=petra, dataset=tickets, purpose_slug="routing")
    job, _ = make_service_account(bob, name="router-job")
    service_account_consent_grant(service_account=job, capabilities=["query"], actor=None)
    request = access.access_request_create(
        requester=bob,
        dataset=tickets,
        purpose_slug="routing",
        fields=["email"],
        duration_days=10,
        justification="Route tickets by sender domain.",
        principal="service_account:router-job",
    )
    access.access_request_approve(actor=alice, request=request)
    request.refresh_from_db()
    access.grant_acknowledge(actor=bob, grant=request.grant)
    consent.consent_record_batch(
        events=[event(s, "given", purpose="churn") for s in ("c-1", "c-2")], actor=None
    )
    return _token_for(job)


@pytest.fixture
def proxy():
    proxy = TcpProxy()
    yield proxy
    proxy.kill()


@pytest.fixture
def server(governed, proxy, tmp_path, django_db_blocker):
    from django.db import connection

    name = connection.settings_dict["NAME"]
    env = server_environment(
        database_url=f"postgres://postgres@127.0.0.1:{proxy.port}/{name}", var_dir=tmp_path
    )
    server = Server(env, tmp_path)
    yield server
    server.stop()


def _check(server, token):
    return requests.post(
        f"{server.url}/api/v1/access/check",
        json={"dataset": "tickets", "purpose": "routing"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=ANSWERS_WITHIN + 20,
    )


def _filter(server, token):
    return requests.post(
        f"{server.url}/api/v1/consent/filter",
        json={"purpose": "churn", "namespace": "shop", "subject_ids": ["c-1", "c-2", "c-3"]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=ANSWERS_WITHIN + 20,
    )


def _export(server, token):
    return requests.get(
        f"{server.url}/api/v1/consent/export?purpose=churn&namespace=shop",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/x-ndjson"},
        timeout=ANSWERS_WITHIN + 20,
    )


def _token_request(server):
    return requests.post(
        f"{server.url}/o/token/",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
        timeout=ANSWERS_WITHIN + 20,
    )


def _me(server, token):
    """Any other API call: under the general API deadline, not a special one."""
    return requests.get(
        f"{server.url}/api/v1/me",
        headers={"Authorization": f"Bearer {token}"},
        timeout=ANSWERS_WITHIN + 20,
    )


CALLS = {"check": _check, "filter": _filter, "export": _export, "me": _me}


def _timed(call, *args):
    started = time.monotonic()
    response = call(*args)
    return response, time.monotonic() - started


PATHS = {
    "check": "/api/v1/access/check",
    "filter": "/api/v1/consent/filter",
    "export": "/api/v1/consent/export",
    "token": "/o/token/",
    "me": "/api/v1/me",
}


def _assert_unavailable(response, elapsed, what):
    from governance.deadline import deadline_for

    assert response.status_code == 503, (what, response.status_code, response.text[:500])
    assert response.json()["error"]["code"] == "unavailable", what
    assert int(response.headers["Retry-After"]) >= 1, what
    assert elapsed < deadline_for(PATHS[what]) + SLACK, (what, elapsed)


def _until_answered(call, *args, seconds=20):
    """Once the database is back, the answer is the right one. (A frozen path needs the server
    to notice the thaw; a pooled connection the fault broke is checked before it is handed
    out, so the first call after a restore already meets a good one.)"""
    deadline = time.monotonic() + seconds
    while True:
        response = call(*args)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


def _right_again_within(server, token, seconds: float):
    """The pool retries a lost database twice a second and checks a connection before handing
    it out: no burst of 503s once the database is back."""
    started = time.monotonic()
    response = _until_answered(_check, server, token, seconds=seconds)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["decision"] == "allow"
    assert time.monotonic() - started < seconds + SLACK


def _assert_right_answers(server, token):
    check = _until_answered(_check, server, token)
    assert check.status_code == 200, check.text
    assert check.json()["decision"] == "allow"
    filtered = _until_answered(_filter, server, token)
    assert filtered.status_code == 200, filtered.text
    assert filtered.json()["subject_ids"] == ["c-1", "c-2"]
    exported = _until_answered(_export, server, token)
    assert exported.status_code == 200, exported.text
    lines = [json.loads(line) for line in exported.text.splitlines() if line]
    assert sorted(line["subject_id"] for line in lines) == ["c-1", "c-2"]


def test_an_unreachable_database_is_a_fast_503_everywhere_then_the_right_answers(
    server, proxy, governed
):
    token = governed
    _assert_right_answers(server, token)
    # when the database becomes unreachable (connections reset, new ones refused)
    proxy.kill()
    for what, call in CALLS.items():
        _assert_unavailable(*_timed(call, server, token), what)
    _assert_unavailable(*_timed(_token_request, server), "token")
    # then, once it is back, the answers are right within a few seconds (no burst of 503s)
    proxy.restore()
    _right_again_within(server, token, seconds=3)
    _assert_right_answers(server, token)


def test_an_unresponsive_database_is_a_503_within_the_deadline_then_the_right_answers(
    server, proxy, governed
):
    token = governed
    _assert_right_answers(server, token)
    # when the database stops answering (sockets open, no byte moves)
    proxy.freeze()
    for what, call in CALLS.items():
        _assert_unavailable(*_timed(call, server, token), what)
    # then, once it answers again
    proxy.thaw()
    _assert_right_answers(server, token)
