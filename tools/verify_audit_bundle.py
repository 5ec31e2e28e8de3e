#!/usr/bin/env python3
"""Verify an exported governance ledger bundle with nothing but the public checkpoint keys.

    python tools/verify_audit_bundle.py BUNDLE --public-keys KEYS.json

BUNDLE is a directory or a .zip written by ``manage.py verify_audit --export``. Prints
"OK: ..." and exits 0, or "FAIL at position P: reason" (or "FAIL: reason") and exits 1.
Needs Python 3.11+ and the ``cryptography`` package; it imports nothing from the project.
The format is in docs/audit-verification.md:

* entries.jsonl: one canonical entry per line, exactly the bytes hashed (split on b"\\n").
  entry_hash = sha256(line).
* chain.jsonl: {"chain_hash","entry_hash","entry_id","position"} per line, position order.
  chain_hash[n] = sha256(0x01 || chain_hash[n-1] || entry_hash[n]), chain_hash[-1] = 0*64.
* checkpoints.jsonl: {"size","head_hash","created_at","kid","signature","note"}; signature =
  base64url(Ed25519(text)), text = "governance-ledger-checkpoint/v1\\n{size}\\n{head_hash}\\n
  {created_at}\\n".
* manifest.json: {"format","size","entries_window":{"from","to"}|null,...}: every link in
  the window must have its entry in entries.jsonl.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import zipfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = "0" * 64
BUNDLE_FORMAT = "governance-ledger-bundle/v1"
CHECKPOINT_FORMAT = "governance-ledger-checkpoint/v1"
HEX = set("0123456789abcdef")


class Failure(Exception):
    def __init__(self, reason: str, position: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.position = position


def read_files(bundle: Path) -> dict[str, bytes]:
    names = ("manifest.json", "chain.jsonl", "entries.jsonl", "checkpoints.jsonl")
    files: dict[str, bytes] = {}
    if bundle.is_dir():
        for name in (*names, "public-keys.json"):
            if (bundle / name).is_file():
                files[name] = (bundle / name).read_bytes()
    elif zipfile.is_zipfile(bundle):
        with zipfile.ZipFile(bundle) as archive:
            for name in (*names, "public-keys.json"):
                if name in archive.namelist():
                    files[name] = archive.read(name)
    else:
        raise Failure(f"{bundle} is neither a bundle directory nor a zip file.")
    for name in names:
        if name not in files:
            raise Failure(f"the bundle has no {name}.")
    return files


def parse_json(raw: bytes, where: str):
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Failure(f"{where} is not valid JSON.") from None


def lines(raw: bytes) -> list[bytes]:
    # Only b"\n" separates lines: a canonical entry may hold U+2028 and other line breaks
    # that str.splitlines() would split on.
    parts = raw.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return parts


def b64url_decode(text) -> bytes:
    if not isinstance(text, str) or not all(c.isalnum() or c in "-_" for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def is_hex64(value) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= HEX


def chain_hash(previous: str, entry_hash: str) -> str:
    return hashlib.sha256(b"\x01" + bytes.fromhex(previous) + bytes.fromhex(entry_hash)).hexdigest()


def public_key(keyset, kid) -> Ed25519PublicKey | None:
    members = keyset.get("keys") if isinstance(keyset, dict) else None
    for member in members if isinstance(members, list) else []:
        if not isinstance(member, dict) or member.get("kid") != kid:
            continue
        if member.get("kty") != "OKP" or member.get("crv") != "Ed25519":
            continue
        try:
            return Ed25519PublicKey.from_public_bytes(b64url_decode(member.get("x")))
        except (ValueError, TypeError):
            continue
    return None


def verify(files: dict[str, bytes], keyset) -> str:
    manifest = parse_json(files["manifest.json"], "manifest.json")
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise Failure(f'manifest.json is not a "{BUNDLE_FORMAT}" manifest.')
    window = manifest.get("entries_window")
    if window is not None and not (
        isinstance(window, dict)
        and isinstance(window.get("from"), int)
        and isinstance(window.get("to"), int)
    ):
        raise Failure("manifest.json has a malformed entries_window.")

    hashes: dict[int, str] = {}
    for number, line in enumerate(lines(files["entries.jsonl"]), start=1):
        entry = parse_json(line, f"entries.jsonl line {number}")
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), int):
            raise Failure(f"entries.jsonl line {number} has no integer id.")
        if entry["id"] in hashes:
            raise Failure(f"entries.jsonl repeats entry {entry['id']} (line {number}).")
        hashes[entry["id"]] = hashlib.sha256(line).hexdigest()

    checkpoints = []
    for number, line in enumerate(lines(files["checkpoints.jsonl"]), start=1):
        checkpoint = parse_json(line, f"checkpoints.jsonl line {number}")
        if not isinstance(checkpoint, dict):
            raise Failure(f"checkpoints.jsonl line {number} is not an object.")
        checkpoints.append(checkpoint)
    wanted = {c.get("size") for c in checkpoints if isinstance(c.get("size"), int)}

    head, expected, seen, heads = GENESIS, 0, set(), {0: GENESIS}
    for number, line in enumerate(lines(files["chain.jsonl"]), start=1):
        link = parse_json(line, f"chain.jsonl line {number}")
        if not isinstance(link, dict):
            raise Failure(f"chain.jsonl line {number} is not an object.", expected)
        position, entry_id = link.get("position"), link.get("entry_id")
        if position != expected:
            if isinstance(position, int) and position > expected:
                raise Failure(f"position {expected} is missing from the chain.", expected)
            raise Failure(
                f"position {position!r} is out of order after position {expected - 1}.", expected
            )
        if entry_id in seen:
            raise Failure(f"entry {entry_id} is linked a second time here.", position)
        seen.add(entry_id)
        if not is_hex64(link.get("entry_hash")) or not is_hex64(link.get("chain_hash")):
            raise Failure("the link's hashes are not 64 lowercase hex digits.", position)
        actual = hashes.get(entry_id)
        # A null window: the bundle claims no entries (an empty time range).
        required = window is not None and window["from"] <= position <= window["to"]
        if actual is None and required:
            raise Failure(
                f"entry {entry_id} is missing (deleted, or left out of the export).", position
            )
        if actual is not None and actual != link["entry_hash"]:
            raise Failure(
                f"entry {entry_id} does not match its sealed hash (its content was changed, or "
                f"entries were swapped): sealed {link['entry_hash'][:16]}…, now {actual[:16]}….",
                position,
            )
        computed = chain_hash(head, link["entry_hash"])
        if computed != link["chain_hash"]:
            raise Failure(
                f"the chain hash was changed: stored {link['chain_hash'][:16]}…, "
                f"recomputed {computed[:16]}….",
                position,
            )
        head = computed
        expected += 1
        if expected in wanted:
            heads[expected] = head
    size = expected
    if manifest.get("size") != size:
        raise Failure(f"the manifest says {manifest.get('size')!r} links, the chain has {size}.")
    extra = set(hashes) - seen
    if extra:
        raise Failure(f"entry {min(extra)} is in the bundle but not in the chain.")

    latest, good_size = None, 0
    for checkpoint in sorted(
        checkpoints, key=lambda c: c["size"] if isinstance(c.get("size"), int) else -1
    ):
        cp_size = checkpoint.get("size")
        label = f"checkpoint at size {cp_size!r} (kid {checkpoint.get('kid')!r})"
        if not isinstance(cp_size, int) or cp_size < 0 or not is_hex64(checkpoint.get("head_hash")):
            raise Failure(f"{label} is malformed.")
        key = public_key(keyset, checkpoint.get("kid"))
        if key is None:
            raise Failure(f"{label} is signed by a key that is not in the public keys.")
        text = (
            f"{CHECKPOINT_FORMAT}\n{cp_size}\n{checkpoint['head_hash']}\n"
            f"{checkpoint.get('created_at')}\n"
        ).encode()
        try:
            key.verify(b64url_decode(checkpoint.get("signature")), text)
        except (InvalidSignature, ValueError, TypeError):
            raise Failure(f"{label} has a bad signature.") from None
        if cp_size > size:
            raise Failure(
                f"{label} is beyond the chain's size {size}: links after position "
                f"{size - 1} were removed.",
                size,
            )
        if heads[cp_size] != checkpoint["head_hash"]:
            raise Failure(
                f"{label} signed head {checkpoint['head_hash'][:16]}… but the chain has "
                f"{heads[cp_size][:16]}… there: an entry between positions {good_size} and "
                f"{cp_size - 1} was rewritten together with the hashes after it.",
                good_size,
            )
        good_size, latest = max(good_size, cp_size), checkpoint

    entries = "no entries" if window is None else f"entries {window['from']} to {window['to']}"
    if latest is None:
        signed = "NO checkpoint to verify (the chain is consistent but not signed)"
    else:
        signed = (
            f"checkpoint size {latest['size']} of {latest.get('created_at')} "
            f"(kid {latest.get('kid')}) verified"
        )
    line = f"OK: {size} entries in the chain ({entries} checked), head {head}, {signed}"
    if size > good_size:
        line += f"; the last {size - good_size} links are not covered by a checkpoint"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path, help="bundle directory or .zip")
    parser.add_argument(
        "--public-keys",
        type=Path,
        help="the checkpoint JWK Set obtained from the operator out of band (without it, the "
        "bundle's own public-keys.json is used, which proves consistency, not authenticity)",
    )
    args = parser.parse_args(argv)
    try:
        files = read_files(args.bundle)
        if args.public_keys is not None:
            try:
                raw_keys = args.public_keys.read_bytes()
            except OSError as error:
                raise Failure(f"cannot read {args.public_keys}: {error.strerror}.") from None
            keyset = parse_json(raw_keys, str(args.public_keys))
        elif "public-keys.json" in files:
            print("WARNING: no --public-keys given; trusting the bundle's own public-keys.json.")
            keyset = parse_json(files["public-keys.json"], "public-keys.json")
        else:
            raise Failure("no --public-keys given and the bundle has no public-keys.json.")
        print(verify(files, keyset))
        return 0
    except Failure as failure:
        where = "" if failure.position is None else f" at position {failure.position}"
        print(f"FAIL{where}: {failure.reason}")
        return 1
    except (OSError, zipfile.BadZipFile) as error:
        print(f"FAIL: the bundle cannot be read: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
