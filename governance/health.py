"""GET /healthz: is the database reachable, is the broker reachable.

503 when the database is unreachable (nothing works without it). A broker outage answers 200
with status "degraded": the portal and the check API keep working, background jobs wait."""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection


def check_database() -> dict:
    started = time.monotonic()
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "not reachable"; report the kind, not secrets
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": round((time.monotonic() - started) * 1000, 1)}


def check_broker() -> dict:
    url = settings.CELERY_BROKER_URL
    started = time.monotonic()
    if url.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        ok = folder.is_dir() and folder.exists()
        return {"ok": ok, "transport": "filesystem"} | ({} if ok else {"error": "missing folder"})
    try:
        with Connection(url, connect_timeout=2, transport_options={"max_retries": 0}) as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
            transport = connection.transport_cls
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {
        "ok": True,
        "transport": str(transport),
        "latency_ms": round((time.monotonic() - started) * 1000, 1),
    }


@never_cache
@require_GET
def healthz(request):
    database = check_database()
    broker = check_broker()
    if not database["ok"]:
        status_text, code = "unavailable", 503
    elif not broker["ok"]:
        status_text, code = "degraded", 200
    else:
        status_text, code = "ok", 200
    return JsonResponse(
        {"status": status_text, "checks": {"database": database, "broker": broker}}, status=code
    )


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says: send them to the static icon."""
    from django.http import HttpResponsePermanentRedirect
    from django.templatetags.static import static

    return HttpResponsePermanentRedirect(static("favicon.svg"))
