"""Real faults between the app and PostgreSQL, and a real server to suffer them.

``TcpProxy`` forwards a local port to PostgreSQL in threads of the test process. ``kill()``
closes every socket (the database is unreachable: connections reset, new ones refused),
``freeze()`` stops moving bytes but keeps every socket open (the database is unresponsive: a
query waits for an answer that never comes, a new connection is accepted and then hears
nothing), ``restore()`` listens and forwards again. No root, no iptables.

``Server`` runs the app under gunicorn in a subprocess, configured like production (DEBUG off,
the database through the proxy), against the test database.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


class TcpProxy:
    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.target = target
        self.port = 0
        self._frozen = threading.Event()
        self._stopped = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._listen()

    # --- the faults ------------------------------------------------------------------------

    def kill(self) -> None:
        """Unreachable: close the listener and every forwarded connection."""
        self._stopped.set()
        with self._lock:
            sockets, self._sockets = self._sockets, []
            listener, self._listener = self._listener, None
        for sock in [*sockets, *([listener] if listener else [])]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def freeze(self) -> None:
        """Unresponsive: keep every socket open, move no byte, accept no new connection."""
        self._frozen.set()

    def thaw(self) -> None:
        self._frozen.clear()

    def restore(self) -> None:
        """After ``kill``: listen on the same port again."""
        self._frozen.clear()
        if self._listener is None:
            self._stopped.clear()
            self._listen()

    # --- forwarding ----------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopped.is_set():
            if self._frozen.is_set():
                time.sleep(0.02)
                continue
            try:
                ready, _, _ = select.select([listener], [], [], 0.05)
                if not ready:
                    continue
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        pairs = {a: b, b: a}
        try:
            while not self._stopped.is_set():
                if self._frozen.is_set():
                    time.sleep(0.02)
                    continue
                ready, _, _ = select.select(list(pairs), [], [], 0.05)
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    pairs[source].sendall(data)
        except OSError:
            return
        finally:
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.close()


class Server:
    """gunicorn serving the app on a free port, with ``env`` on top of a clean environment."""

    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "gunicorn.log"
        command = [
            str(Path(sys.executable).with_name("gunicorn")),
            "governance.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "1",
            "--timeout",
            "60",
        ]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.url}/healthz", timeout=2)
                return
            except requests.RequestException:
                if self.process.poll() is not None:
                    break
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def server_environment(*, database_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    """The settings the server runs with: the test process's own (broker, cache, secrets),
    the database through the proxy."""
    keep = ("PATH", "HOME", "LANG", "SECRET_KEY", "CELERY_BROKER_URL", "CACHE_URL")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "governance.settings",
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "VAR_DIR": str(var_dir),
        **extra,
    }
