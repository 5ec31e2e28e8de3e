import pytest

# The browser test here uses Debian's Chromium, configured once for the suite in tests/e2e.
from tests.e2e.conftest import browser_type_launch_args  # noqa: F401


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The personas get real passwords; Argon2 makes each of them cost a tenth of a second,
    and these tests are not about passwords."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def database_clock_follows_time_machine(monkeypatch):
    """time_machine cannot move PostgreSQL's clock, which consent recording and snapshots read
    (consent.selectors.history.database_now). Tests about as_of/known_at at a frozen moment use
    this so that the database's "now" is the frozen one too; the watermark's locking logic is
    unchanged (tests/consent/test_snapshot_consistency.py runs it on the real clock)."""
    from django.utils import timezone

    from consent.selectors import history

    monkeypatch.setattr(history, "database_now", timezone.now)
