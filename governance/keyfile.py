"""A file of private Ed25519 signing keys, kept as a JWK Set (RFC 7517), shared by every process.

The first key signs; every key's public half is published, so rotating is "prepend a new key"
and the old keys keep verifying what they signed. Used for access leases
(``governance.access.leases``) and ledger checkpoints (``governance.audit.chain``); it imports
nothing from the governance apps, so that ``audit`` can use it without depending on ``access``.

The file is created with one new key when it is missing (the first of several racing processes
wins, nobody reads half a file), written only as a whole (private temporary file, ``os.replace``,
directory fsynced), and re-read by running processes when it changes. Read-modify-write
(rotating, retiring) is serialised across processes with ``lock()``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from jwcrypto import jwk
from jwcrypto.common import JWException, base64url_encode

logger = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
# Our own, non-standard JWK member: when the key was created (UTC, epoch seconds). The next
# key's creation is when this one stopped signing.
CREATED = "created"

Stamp = tuple[int, int, int]


class Ed25519KeyFile:
    """One JWK Set file of private Ed25519 keys, signing key first.

    ``setting`` names the Django setting that holds the file's path, ``default_name`` the file
    in ``VAR_DIR/keys`` when it is not set; ``label`` (e.g. "lease key file") and ``command``
    (e.g. "lease_keys rotate", run as ``manage.py …``) make the messages for operators.
    """

    def __init__(self, *, setting: str, default_name: str, label: str, command: str):
        self.setting = setting
        self.default_name = default_name
        self.label = label
        self.command = command
        self._cache: dict[str, tuple[Stamp, list[jwk.JWK]]] = {}
        self._cache_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Ed25519KeyFile({self.setting})"

    @property
    def path(self) -> Path:
        default = Path(settings.VAR_DIR) / "keys" / self.default_name
        return Path(getattr(settings, self.setting, default))

    # --- Reading ------------------------------------------------------------------------------

    def signing_keys(self) -> list[jwk.JWK]:
        """The private keys, signing key first.

        Creates the file with one new key when it does not exist; when several processes race
        to create it, all of them end up using the one file that won. Every call stats the file,
        so a rotation by another process is picked up without a restart. Raises
        ImproperlyConfigured, naming the file, when it is not a set of private Ed25519 keys.
        """
        path = self.path
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            self._create(path)
            stat = os.stat(path)
        with self._cache_lock:
            cached = self._cache.get(str(path))
        if cached is not None and cached[0] == _stamp(stat):
            return list(cached[1])
        # Read and stat the same open file, so the contents and the stamp cached with them
        # agree even when the file is replaced in between.
        with open(path, "rb") as handle:
            opened = os.fstat(handle.fileno())
            raw = handle.read()
        if opened.st_mode & 0o077:
            logger.warning("The %s %s is readable by other users; chmod 600 it.", self.label, path)
        keys = [jwk.JWK(**member) for member in self.parse(raw, path)]
        with self._cache_lock:
            self._cache[str(path)] = (_stamp(opened), keys)
        return list(keys)

    def members(self) -> list[dict[str, Any]]:
        """The validated JWK members as stored now (not cached): read them under ``lock()``
        to rewrite the file. Raises FileNotFoundError when there is no file."""
        path = self.path
        return self.parse(path.read_bytes(), path)

    def parse(self, raw: bytes, path: Path | None = None) -> list[dict[str, Any]]:
        """Validated private JWK members. Error messages name the file, never key material."""
        path = self.path if path is None else path

        def bad(problem: str) -> ImproperlyConfigured:
            return ImproperlyConfigured(
                f"The {self.label} {path} {problem} It must be a JWK Set of private Ed25519 "
                f"keys; `manage.py {self.command}` writes a valid one."
            )

        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise bad("is not valid JSON.") from None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise bad('has no "keys" list.')
        if not document["keys"]:
            raise bad("holds no keys.")
        members: list[dict[str, Any]] = []
        kids: set[str] = set()
        for position, member in enumerate(document["keys"], start=1):
            where = f"(key {position})"
            if not isinstance(member, dict):
                raise bad(f"{where} holds a key that is not a JSON object.")
            if member.get("kty") != "OKP" or member.get("crv") != "Ed25519":
                raise bad(f"{where} holds a key that is not Ed25519 (kty OKP, crv Ed25519).")
            if not isinstance(member.get("d"), str):
                raise bad(f"{where} holds a public key only; signing needs the private key.")
            kid = member.get("kid")
            if not isinstance(kid, str) or not kid:
                raise bad(f'{where} holds a key without a "kid".')
            if kid in kids:
                raise bad(f"{where} repeats kid {kid!r}.")
            kids.add(kid)
            if member.get("alg", ALGORITHM) != ALGORITHM or member.get("use", "sig") != "sig":
                raise bad(f'{where} holds a key whose "alg"/"use" is not EdDSA/sig.')
            try:
                derived = (
                    jwk.JWK(**member)
                    .get_op_key("sign")
                    .public_key()
                    .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
                )
            except (JWException, ValueError, TypeError, KeyError):
                raise bad(f"{where} holds a key that cannot be loaded.") from None
            # Compared as canonical base64url (no padding, no stray characters), so an "x" that
            # only a lenient decoder would read as this key is refused too.
            if base64url_encode(derived) != member.get("x"):
                raise bad(f'{where} holds a key whose public "x" does not match its private "d".')
            members.append(member)
        return members

    def public_keys(self) -> dict:
        """The public JWK Set: every key in the file, signing key first."""
        return {"keys": [public_member(key) for key in self.signing_keys()]}

    # --- Writing ------------------------------------------------------------------------------

    def new_member(self) -> dict[str, Any]:
        """A new private key as a JWK member: kid is its RFC 7638 thumbprint (SHA-256)."""
        key = jwk.JWK.generate(kty="OKP", crv="Ed25519")
        member = key.export_private(as_dict=True)
        member["kid"] = key.thumbprint()
        member["use"] = "sig"
        member["alg"] = ALGORITHM
        member[CREATED] = int(timezone.now().timestamp())
        return member

    def replace(self, members: list[dict[str, Any]]) -> None:
        """Replace the file as a whole with ``members``; call under ``lock()``."""
        path = self.path
        temp = _write_private_temp(path.parent, path.name, _serialize(members))
        try:
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_directory(path.parent)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise read-modify-write of the file (rotating, retiring) across processes. The
        file's directory must exist (``signing_keys()`` creates it)."""
        path = self.path
        lock_path = path.parent / f".{path.name}.lock"
        descriptor = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    def _create(self, path: Path) -> None:
        """Create the key file with one new key, unless another process does so first.

        The key is written in full to a private temporary file, which is then hard-linked to
        the final name. link() fails when the name exists, so the first process wins, and no
        process ever reads a half-written file. Had the losers overwritten it instead, a process
        might sign with a key that the published set no longer holds.
        """
        directory = path.parent
        if not directory.exists():
            with contextlib.suppress(FileExistsError):
                directory.mkdir(mode=0o700, parents=True)
                os.chmod(directory, 0o700)  # mkdir's mode is reduced by the umask
        temp = _write_private_temp(directory, path.name, _serialize([self.new_member()]))
        try:
            os.link(temp, path)
        except FileExistsError:
            return  # another process created it first: use that one
        except OSError:
            # A filesystem without hard links: exclusive create of the final name. A reader
            # racing this one small write could see it empty, but two writers can never both win.
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(temp.read_bytes())
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            temp.unlink(missing_ok=True)
        _fsync_directory(directory)
        logger.warning("Created the %s %s with one new key.", self.label, path)


def public_member(key: jwk.JWK) -> dict[str, str]:
    """The public JWK of ``key``, built from an allow-list of members, so nothing private (d)
    or local (created) can leak."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": key.export_public(as_dict=True)["x"],
        "kid": key["kid"],
        "use": "sig",
        "alg": ALGORITHM,
    }


def _stamp(stat: os.stat_result) -> Stamp:
    # os.replace gives a new inode, so a rewrite within the mtime granularity is still seen.
    return (stat.st_mtime_ns, stat.st_ino, stat.st_size)


def _serialize(members: list[dict[str, Any]]) -> bytes:
    return (json.dumps({"keys": members}, indent=2) + "\n").encode()


def _write_private_temp(directory: Path, name: str, content: bytes) -> Path:
    """A fully written, fsynced 0600 file next to the key file, under a fresh random name."""
    temp = directory / f".{name}.{secrets.token_hex(8)}.tmp"
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
