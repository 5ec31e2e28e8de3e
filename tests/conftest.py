from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.staticfiles import handlers as staticfiles_handlers
from django.core.cache import cache
from django.db import connections
from django.test import Client, TransactionTestCase
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from tests.accounts.factories import UserFactory

# Hypothesis fails an example that takes longer than 200 ms by default: a timing test, which
# flakes on a busy 2-core machine. Speed lives in `make bench`; property tests assert behaviour.
hypothesis_settings.register_profile("suite", deadline=None)
hypothesis_settings.load_profile("suite")


def pytest_configure(config):
    from django.conf import settings

    vendor = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    if vendor != "postgresql":
        raise pytest.UsageError(
            "The suite runs on PostgreSQL (tests about SQLite make their own database). "
            "Run `make test`, or export DATABASE_URL=postgres://... as the Makefile does."
        )


# Transactional tests (live server, browser) end by flushing every table, which TRUNCATEs the
# append-only ledger; its triggers rightly refuse. For that test-only flush, and only on the
# test database, switch the session to replica mode, in which ordinary triggers do not fire.
_original_fixture_teardown = TransactionTestCase._fixture_teardown


def _fixture_teardown_allowing_ledger_flush(self):
    names = list(self._databases_names(include_mirrors=False))
    for name in names:
        with connections[name].cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
    try:
        _original_fixture_teardown(self)
    finally:
        for name in names:
            with connections[name].cursor() as cursor:
                cursor.execute("SET session_replication_role = DEFAULT")


TransactionTestCase._fixture_teardown = _fixture_teardown_allowing_ledger_flush


class _CollectedStaticFilesHandler(staticfiles_handlers.StaticFilesHandler):
    """The live server serves the collected (hashed, as in production) static files from
    STATIC_ROOT, which `make test` fills with collectstatic; Django's handler would look the
    hashed names up in the source folders and find nothing."""

    def serve(self, request):
        from django.views.static import serve

        return serve(request, self.file_path(request.path), document_root=settings.STATIC_ROOT)


staticfiles_handlers.StaticFilesHandler = _CollectedStaticFilesHandler


# ``force_login`` stands for a finished sign-in, which for stewards, privacy officers and
# administrators includes the second factor: their sessions are marked verified, as the
# verification step marks them. The sign-in steps themselves (password, lockout, TOTP,
# recovery codes, enrolment) are tested through the real forms in tests/accounts/ and
# tests/e2e/. (Axes' backend, first in AUTHENTICATION_BACKENDS, cannot load a user.)
_original_force_login = Client.force_login


def _force_login_with_second_factor(self, user, backend=None):
    from governance.accounts import policy, second_factor

    _original_force_login(self, user, backend or "django.contrib.auth.backends.ModelBackend")
    if policy.requires_second_factor(user):
        session = self.session
        session[second_factor.SESSION_KEY] = {
            "user": user.pk,
            "epoch": user.second_factor_epoch,
            "how": "test",
        }
        session.save()


Client.force_login = _force_login_with_second_factor


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Argon2 costs ~0.3 s per password by design; tests create many users. The configured
    hashers are asserted in tests/accounts/test_passwords.py."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
    ]


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice(db):
    """Steward."""
    return UserFactory(username="alice", roles=["steward"])


@pytest.fixture
def bob(db):
    """Engineer."""
    return UserFactory(username="bob", roles=["engineer"])


@pytest.fixture
def charlie(db):
    """Outsider: a person with no role."""
    return UserFactory(username="charlie", roles=[])


@pytest.fixture
def audrey(db):
    """Auditor."""
    return UserFactory(username="audrey", roles=["auditor"])


@pytest.fixture
def petra(db):
    """Privacy officer."""
    return UserFactory(username="petra", roles=["privacy_officer"])


@pytest.fixture
def ada(db):
    """Administrator."""
    return UserFactory(username="ada", roles=["admin"])


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture(scope="session", autouse=True)
def _close_connection_pools(django_db_setup, django_db_blocker):
    """Django's native pool keeps connections open (the live server thread's too); close the
    pools before pytest-django drops the test database, or PostgreSQL refuses to drop it."""
    yield
    with django_db_blocker.unblock():
        for connection in connections.all():
            if connection.settings_dict["NAME"] != connection.creation._get_test_db_name():
                continue  # no test database was set up in this session
            # The live server thread may still hold a connection of its own: end it.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            if getattr(connection, "pool", None) is not None:
                connection.close_pool()


@pytest.fixture
def celery_worker_thread(transactional_db):
    """A real Celery worker consuming from the test Redis broker, in a thread of this process
    (so it sees the test database). Queues are purged first so no stale task runs."""
    from celery.contrib.testing.worker import start_worker

    from governance.celery import app

    app.control.purge()
    with start_worker(
        app, pool="solo", perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"
    ) as worker:
        yield worker
