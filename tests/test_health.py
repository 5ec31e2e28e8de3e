from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.test_settings import clean_environ

ROOT = Path(__file__).resolve().parents[1]


def test_healthz_reports_database_and_broker(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    assert "redis" in body["checks"]["broker"]["transport"].lower()
    assert response["Cache-Control"].startswith("max-age=0")


def test_healthz_is_degraded_but_up_when_the_broker_is_unreachable(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["broker"]["ok"] is False
    assert "127.0.0.1" not in json.dumps(body)  # no connection details leak


def test_healthz_answers_503_when_the_database_is_unreachable(tmp_path):
    code = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/healthz');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    env = {
        **clean_environ(),
        "DJANGO_SETTINGS_MODULE": "governance.settings",
        "DEBUG": "true",
        "VAR_DIR": str(tmp_path),
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nothing?connect_timeout=2",
        "DATABASE_POOL": "false",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 503
    assert answer["body"]["status"] == "unavailable"
    assert answer["body"]["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    # the embedded filesystem broker is still reported
    assert answer["body"]["checks"]["broker"]["ok"] is True


def test_healthz_is_not_redirected_to_https(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/accounts/login/").status_code == 301
