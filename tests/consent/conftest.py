import pytest

# The browser test here uses Debian's Chromium, configured once for the suite in tests/e2e.
from tests.e2e.conftest import browser_type_launch_args  # noqa: F401


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The personas get real passwords; Argon2 makes each of them cost a tenth of a second,
    and these tests are not about passwords."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
