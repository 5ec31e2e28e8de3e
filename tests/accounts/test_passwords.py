from __future__ import annotations

from django.contrib.auth.hashers import check_password, make_password

import governance.settings as configured


def test_passwords_and_client_secrets_are_hashed_with_argon2():
    # the module's own value (tests swap in a faster hasher through the settings fixture)
    assert configured.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_argon2_hashes_verify(settings):
    settings.PASSWORD_HASHERS = configured.PASSWORD_HASHERS
    hashed = make_password("correct-horse-battery-staple")
    assert hashed.startswith("argon2$argon2id$")
    assert check_password("correct-horse-battery-staple", hashed)


def test_weak_passwords_are_refused_by_the_validators(db):
    import pytest
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    for weak in ("short", "password1234", "123456789012"):
        with pytest.raises(ValidationError):
            validate_password(weak)
