"""Settings come from the environment through typed helpers; bad values fail clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from governance import env

ROOT = Path(__file__).resolve().parents[1]
STRONG_KEY = "k" * 20 + "-strong-secret-key-for-the-settings-tests-0123456789"

PROBE = """
import json, django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "options": {k: v for k, v in db["OPTIONS"].items()},
    "broker": settings.CELERY_BROKER_URL,
    "broker_options": settings.CELERY_BROKER_TRANSPORT_OPTIONS,
    "debug": settings.DEBUG, "ssl_redirect": settings.SECURE_SSL_REDIRECT,
    "hsts": settings.SECURE_HSTS_SECONDS, "session_secure": settings.SESSION_COOKIE_SECURE,
    "csrf_secure": settings.CSRF_COOKIE_SECURE,
}, default=str))
"""


def clean_environ() -> dict[str, str]:
    """This process's environment without any of the application's variables."""
    skip = set(env.REGISTRY) | {"DJANGO_ALLOW_ASYNC_UNSAFE"}
    return {k: v for k, v in os.environ.items() if k not in skip}


def run_settings(extra_env: dict[str, str], code: str = PROBE) -> subprocess.CompletedProcess:
    base = clean_environ()
    base["DJANGO_SETTINGS_MODULE"] = "governance.settings"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, **extra_env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("X_BOOL", "X_INT", "X_LIST", "X_URL", "X_RATE", "X_CHOICE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("0", False), ("Yes", True), ("off", False), ("", False)]
)
def test_env_bool_reads_the_usual_spellings(clean_env, raw, expected):
    clean_env.setenv("X_BOOL", raw)
    assert env.env_bool("X_BOOL", False) is expected


def test_env_bool_rejects_anything_else_naming_the_variable(clean_env):
    clean_env.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured, match=r"X_BOOL='maybe' is not a boolean"):
        env.env_bool("X_BOOL", False)


def test_env_int_rejects_text_and_values_below_minimum(clean_env):
    clean_env.setenv("X_INT", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_INT='ten' is not an integer"):
        env.env_int("X_INT", 1)
    clean_env.setenv("X_INT", "0")
    with pytest.raises(ImproperlyConfigured, match="X_INT=0 is below the minimum of 1"):
        env.env_int("X_INT", 1, minimum=1)


def test_env_list_splits_and_trims(clean_env):
    clean_env.setenv("X_LIST", " a.example.org, ,b.example.org ")
    assert env.env_list("X_LIST", []) == ["a.example.org", "b.example.org"]


def test_env_rate_and_choice_reject_bad_values(clean_env):
    clean_env.setenv("X_RATE", "fast")
    with pytest.raises(ImproperlyConfigured, match="X_RATE='fast' is not a rate"):
        env.env_rate("X_RATE", "1/min")
    clean_env.setenv("X_CHOICE", "LOUD")
    with pytest.raises(ImproperlyConfigured, match="X_CHOICE='LOUD' is not one of: A, B"):
        env.env_choice("X_CHOICE", "A", ("A", "B"))


def test_postgres_url_uses_the_native_pool():
    config = env.parse_database_url(
        "postgres://u:p%40ss@db.internal:6543/gov?sslmode=require", pool=True, pool_max_size=7
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["PASSWORD"]) == ("gov", "u", "p@ss")
    assert (config["HOST"], config["PORT"]) == ("db.internal", "6543")
    assert config["OPTIONS"]["sslmode"] == "require"
    assert config["OPTIONS"]["pool"]["max_size"] == 7
    assert config["CONN_MAX_AGE"] == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://localhost/db", "unsupported scheme 'mysql'"),
        ("postgres://localhost", "must name a database"),
        ("postgres://localhost:notaport/db", "invalid port"),
        ("sqlite://", "must name a file"),
    ],
)
def test_bad_database_urls_are_refused(url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        env.parse_database_url(url)


def test_embedded_defaults_are_sqlite_in_wal_mode_and_a_filesystem_broker(tmp_path):
    result = run_settings({"DEBUG": "true", "VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    settings = json.loads(result.stdout)
    assert settings["engine"] == "django.db.backends.sqlite3"
    assert "PRAGMA journal_mode=WAL" in settings["options"]["init_command"]
    assert settings["options"]["transaction_mode"] == "IMMEDIATE"
    assert settings["broker"] == "filesystem://"
    assert settings["broker_options"]["data_folder_in"].startswith(str(tmp_path))


def test_debug_off_without_a_secret_key_refuses_to_start(tmp_path):
    result = run_settings({"DEBUG": "false", "VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is required when DEBUG is off" in result.stderr


def test_debug_off_with_a_weak_secret_key_refuses_to_start(tmp_path):
    result = run_settings({"DEBUG": "false", "SECRET_KEY": "short", "VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "SECRET_KEY is too weak" in result.stderr


def test_bad_value_names_the_variable_at_start_up(tmp_path):
    result = run_settings({"DEBUG": "sometimes", "VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "DEBUG='sometimes' is not a boolean" in result.stderr


def test_debug_off_turns_on_secure_cookies_hsts_and_ssl_redirect(tmp_path):
    result = run_settings({"DEBUG": "false", "SECRET_KEY": STRONG_KEY, "VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    settings = json.loads(result.stdout)
    assert settings["ssl_redirect"] is True
    assert settings["hsts"] == 31_536_000
    assert settings["session_secure"] is True
    assert settings["csrf_secure"] is True


def test_production_settings_pass_the_deploy_checklist(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **clean_environ(),
            "DEBUG": "false",
            "SECRET_KEY": STRONG_KEY,
            "VAR_DIR": str(tmp_path),
            "ALLOWED_HOSTS": "governance.example.org",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
