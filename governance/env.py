"""Typed readers for settings that come from the environment.

Every variable the project reads goes through one of these helpers, which record it in
``REGISTRY``. That registry is what `.env.example`, the README's configuration table and
docker-compose.yml are checked against in the tests, so a variable cannot be added silently.
A bad value raises ``ImproperlyConfigured`` naming the variable and what was expected.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Variable:
    name: str
    kind: str
    default: object
    help: str


REGISTRY: dict[str, Variable] = {}


def _raw(name: str, kind: str, default: object, help: str) -> str | None:
    REGISTRY[name] = Variable(name=name, kind=kind, default=default, help=help)
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str, help: str = "") -> str:
    value = _raw(name, "str", default, help)
    return default if value is None else value


def env_bool(name: str, default: bool, help: str = "") -> bool:
    value = _raw(name, "bool", default, help)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean; use one of: true, false, 1, 0, yes, no, on, off."
    )


def env_int(name: str, default: int, help: str = "", *, minimum: int | None = None) -> int:
    value = _raw(name, "int", default, help)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
    return number


def env_float(name: str, default: float, help: str = "", *, minimum: float = 0.0) -> float:
    value = _raw(name, "float", str(default), help)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None
    if number != number or number < minimum or number == float("inf"):  # NaN, too small, inf
        raise ImproperlyConfigured(f"{name}={value!r} must be a finite number >= {minimum}.")
    return number


def env_list(name: str, default: list[str], help: str = "") -> list[str]:
    value = _raw(name, "list", ",".join(default), help)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


_RATE = re.compile(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$")


def env_rate(name: str, default: str, help: str = "") -> str:
    """A DRF throttle rate such as ``60/min``; checked here so a typo fails at start-up, not
    as a 500 on the first throttled request."""
    value = _raw(name, "rate", default, help)
    if value is None:
        return default
    if not _RATE.match(value):
        raise ImproperlyConfigured(f"{name}={value!r} is not a rate like 60/min or 1000/hour.")
    return value


def env_mapping(name: str, default: dict[str, str], help: str = "") -> dict[str, str]:
    """``name1=value1;name2=value2`` (values may contain '=' and ',')."""
    rendered = ";".join(f"{k}={v}" for k, v in default.items())
    value = _raw(name, "mapping", rendered, help)
    if value is None:
        return dict(default)
    mapping = {}
    for item in value.split(";"):
        if not item.strip():
            continue
        key, sep, item_value = item.partition("=")
        if not sep or not key.strip() or not item_value.strip():
            raise ImproperlyConfigured(f"{name} must look like name=value;name2=value2.")
        mapping[key.strip()] = item_value.strip()
    return mapping


def env_seconds_mapping(mapping: dict[str, str], *, name: str) -> dict[str, float]:
    """Values of an ``env_mapping`` read as positive numbers of seconds."""
    result = {}
    for key, value in mapping.items():
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if not 0 < seconds < float("inf"):
            raise ImproperlyConfigured(f"{name}: {key}={value!r} is not a positive number.")
        result[key] = seconds
    return result


def env_choice(name: str, default: str, choices: tuple[str, ...], help: str = "") -> str:
    value = _raw(name, "choice", default, help)
    if value is None:
        return default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of: {', '.join(choices)}.")
    return value


POOL_CHECK_SECONDS = 1.0


def _tune_pool() -> None:
    """Two changes to psycopg_pool's behaviour when the database goes away and comes back
    (tests/faults/test_database_faults.py):

    - it retries a lost database with exponential backoff (1, 2, 4, 8, 16 s …), so after a
      30-second outage requests kept answering 503 for up to 16 s more: retry twice a second
      instead (each attempt is bounded by connect_timeout);
    - the health check Django runs on a pooled connection before handing it out
      (CONN_HEALTH_CHECKS) waits for ever on a frozen network path, before any request
      deadline can reach that connection: bound it to POOL_CHECK_SECONDS by shutting the
      socket, so the check fails and the pool discards the connection.
    """
    from psycopg_pool import ConnectionPool
    from psycopg_pool.base import AttemptWithBackoff

    AttemptWithBackoff.INITIAL_DELAY = 0.5
    AttemptWithBackoff.DELAY_BACKOFF = 1.0
    if getattr(ConnectionPool.check_connection, "_bounded", False):
        return
    unbounded = ConnectionPool.check_connection

    def check_connection(conn) -> None:
        import os
        import socket
        import threading

        def cut() -> None:
            try:
                duplicate = socket.socket(fileno=os.dup(conn.pgconn.socket))
            except Exception:
                return
            try:
                duplicate.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            finally:
                duplicate.close()

        timer = threading.Timer(POOL_CHECK_SECONDS, cut)
        timer.daemon = True
        timer.start()
        try:
            unbounded(conn)
        finally:
            timer.cancel()

    check_connection._bounded = True
    ConnectionPool.check_connection = staticmethod(check_connection)


def parse_database_url(
    url: str,
    *,
    name: str = "DATABASE_URL",
    pool: bool = True,
    pool_max_size: int = 4,
    base_dir: str = ".",
    connect_timeout: int = 2,
    pool_timeout: float = 2.0,
) -> dict:
    """Turn ``postgres://user:pass@host:port/db`` or ``sqlite:///path`` into a DATABASES entry.

    SQLite runs in WAL mode with IMMEDIATE transactions so the web process, the worker and beat
    can share the file without "database is locked" errors on write upgrades.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in {"postgres", "postgresql", "pgsql"}:
        if not parts.path.strip("/"):
            raise ImproperlyConfigured(f"{name} must name a database: postgres://user@host:5432/db")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(f"{name} has an invalid port.") from None
        options: dict = dict(parse_qsl(parts.query))
        # A refused or slow database answers within seconds, never hangs a request (see
        # governance/deadline.py for one that stops answering altogether).
        options.setdefault("connect_timeout", str(connect_timeout))
        # A path that dies without a reset is noticed by TCP keepalives within ~25 s even
        # outside a request deadline; a session left idle inside a transaction (a stuck
        # writer) is ended by the server after 10 minutes, releasing its locks.
        options.setdefault("keepalives", "1")
        options.setdefault("keepalives_idle", "10")
        options.setdefault("keepalives_interval", "5")
        options.setdefault("keepalives_count", "3")
        options.setdefault("options", "-c idle_in_transaction_session_timeout=600000")
        if pool:
            options["pool"] = {"min_size": 1, "max_size": pool_max_size, "timeout": pool_timeout}
            _tune_pool()
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
            "CONN_MAX_AGE": 0,
            # A pooled connection is tried before it is handed out, so the first requests
            # after the database comes back do not meet the dead ones (a burst of 503s).
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
            "TEST": {"NAME": f"test_{unquote(parts.path.lstrip('/'))}"},
        }
    if scheme == "sqlite":
        # sqlite:///relative/path, sqlite:////absolute/path, sqlite://:memory:
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if parts.netloc == ":memory:" or path == ":memory:":
            path = ":memory:"
        elif not path:
            raise ImproperlyConfigured(f"{name} must name a file: sqlite:///var/governance.sqlite3")
        elif not os.path.isabs(path):
            path = os.path.join(base_dir, path)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                ),
            },
        }
    raise ImproperlyConfigured(
        f"{name}={url!r} has an unsupported scheme {scheme!r}; use postgres:// or sqlite://."
    )


def env_database(
    name: str,
    default: str,
    *,
    pool: bool,
    pool_max_size: int,
    base_dir: str,
    connect_timeout: int = 2,
    pool_timeout: float = 2.0,
    help: str = "",
) -> dict:
    value = _raw(name, "url", default, help)
    return parse_database_url(
        value or default,
        name=name,
        pool=pool,
        pool_max_size=pool_max_size,
        base_dir=base_dir,
        connect_timeout=connect_timeout,
        pool_timeout=pool_timeout,
    )


def parse_cache_url(url: str, *, name: str = "CACHE_URL", timeout: float = 1.0) -> dict:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in {"redis", "rediss"}:
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            # A cache that is down or frozen fails the call within this, never hangs it.
            "OPTIONS": {"socket_connect_timeout": timeout, "socket_timeout": timeout},
        }
    if scheme == "locmem":
        return {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": parts.netloc or "default",
        }
    raise ImproperlyConfigured(
        f"{name}={url!r} has an unsupported scheme {scheme!r}; use redis:// or locmem://."
    )
