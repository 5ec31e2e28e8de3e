#!/usr/bin/env python3
"""Verify an exported governance ledger bundle with nothing but the public checkpoint keys.

    python tools/verify_audit_bundle.py BUNDLE --public-keys KEYS.json

BUNDLE is a directory or a .zip: a bundle written by ``manage.py verify_audit --export``, an
audit-log export as downloaded (its ``bundle/`` folder is verified, then every line of
``audit-log.jsonl`` and every row of ``audit-log.csv`` is checked against the verified
entries), or an evidence pack as downloaded (its ``audit/`` proof is verified, then every
file against ``pack.json``, ``pack.json`` against the ledger entry that sealed it, and every
record against the proven entries that back it). Prints "OK: ..." and exits 0, or
"FAIL at position P: reason" (or "FAIL: reason") and exits 1. Needs Python 3.11+ and the
``cryptography`` package; it imports nothing from the project. The formats are in
docs/audit-verification.md and docs/compliance-exports.md:

* entries.jsonl: one canonical entry per line, exactly the bytes hashed (split on b"\\n").
  entry_hash = sha256(line).
* chain.jsonl: {"chain_hash","entry_hash","entry_id","position"} per line, position order.
  chain_hash[n] = sha256(0x01 || chain_hash[n-1] || entry_hash[n]), chain_hash[-1] = 0*64.
* checkpoints.jsonl: {"size","head_hash","created_at","kid","signature","note"}; signature =
  base64url(Ed25519(text)), text = "governance-ledger-checkpoint/v1\\n{size}\\n{head_hash}\\n
  {created_at}\\n".
* manifest.json: {"format","size","entries_window":{"from","to"}|null,...}: every link in
  the window must have its entry in entries.jsonl.
* An inclusion proof (format governance-ledger-proof/v1) holds the links from "chain_from"
  to "size" only, starting from "anchor" (the chain hash before chain_from); every entry in
  entries.jsonl must be linked there, and the checkpoints fold to their signed heads.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = "0" * 64
BUNDLE_FORMAT = "governance-ledger-bundle/v1"
PROOF_FORMAT = "governance-ledger-proof/v1"
PACK_FORMAT = "governance-evidence-pack/v1"
SEALED_EVENT = "compliance.evidence_pack_sealed"
BUNDLE_NAMES = ("manifest.json", "chain.jsonl", "entries.jsonl", "checkpoints.jsonl")
CHECKPOINT_FORMAT = "governance-ledger-checkpoint/v1"
HEX = set("0123456789abcdef")


class Failure(Exception):
    def __init__(self, reason: str, position: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.position = position


class Source:
    """The files of a directory or a zip, by their path inside it ("a/b.json")."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.is_dir():
            self._names = sorted(
                p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()
            )
            self._zip = None
        elif zipfile.is_zipfile(path):
            self._zip = zipfile.ZipFile(path)
            self._names = [n for n in self._zip.namelist() if not n.endswith("/")]
        else:
            raise Failure(f"{path} is neither a bundle directory nor a zip file.")

    def names(self) -> list[str]:
        return list(self._names)

    def has(self, name: str) -> bool:
        return name in self._names

    def read(self, name: str) -> bytes:
        if self._zip is not None:
            return self._zip.read(name)
        return (self.path / name).read_bytes()


def bundle_prefix(source: Source) -> str:
    """Where the ledger bundle is: the top level, or the shallowest folder holding a
    manifest.json (``bundle/`` in an audit-log export, ``audit/`` in an evidence pack)."""
    if source.has("manifest.json"):
        return ""
    folders = sorted(
        (n[: -len("manifest.json")] for n in source.names() if n.endswith("/manifest.json")),
        key=lambda folder: (folder.count("/"), folder),
    )
    if not folders:
        raise Failure("the bundle has no manifest.json.")
    return folders[0]


def read_files(source: Source, prefix: str = "") -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for name in (*BUNDLE_NAMES, "public-keys.json"):
        if source.has(prefix + name):
            files[name] = source.read(prefix + name)
    for name in BUNDLE_NAMES:
        if name not in files:
            raise Failure(f"the bundle has no {prefix}{name}.")
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


class Verified:
    """What a successful verification proved: the line to print, and every entry proven
    (id → (canonical bytes, parsed entry))."""

    def __init__(self, line: str, entries: dict[int, tuple[bytes, dict]]) -> None:
        self.line = line
        self.entries = entries


def verify(files: dict[str, bytes], keyset) -> Verified:
    manifest = parse_json(files["manifest.json"], "manifest.json")
    proof = isinstance(manifest, dict) and manifest.get("format") == PROOF_FORMAT
    if not isinstance(manifest, dict) or manifest.get("format") not in (
        BUNDLE_FORMAT,
        PROOF_FORMAT,
    ):
        raise Failure(f'manifest.json is not a "{BUNDLE_FORMAT}" or "{PROOF_FORMAT}" manifest.')
    window = manifest.get("entries_window")
    if window is not None and not (
        isinstance(window, dict)
        and isinstance(window.get("from"), int)
        and isinstance(window.get("to"), int)
    ):
        raise Failure("manifest.json has a malformed entries_window.")
    start, anchor = 0, GENESIS
    if proof:
        start, anchor, window = manifest.get("chain_from"), manifest.get("anchor"), None
        if not isinstance(start, int) or start < 0 or not is_hex64(anchor):
            raise Failure("manifest.json has a malformed chain_from or anchor.")

    hashes: dict[int, str] = {}
    parsed: dict[int, tuple[bytes, dict]] = {}
    for number, line in enumerate(lines(files["entries.jsonl"]), start=1):
        entry = parse_json(line, f"entries.jsonl line {number}")
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), int):
            raise Failure(f"entries.jsonl line {number} has no integer id.")
        if entry["id"] in hashes:
            raise Failure(f"entries.jsonl repeats entry {entry['id']} (line {number}).")
        hashes[entry["id"]] = hashlib.sha256(line).hexdigest()
        parsed[entry["id"]] = (line, entry)

    checkpoints = []
    for number, line in enumerate(lines(files["checkpoints.jsonl"]), start=1):
        checkpoint = parse_json(line, f"checkpoints.jsonl line {number}")
        if not isinstance(checkpoint, dict):
            raise Failure(f"checkpoints.jsonl line {number} is not an object.")
        checkpoints.append(checkpoint)
    wanted = {c.get("size") for c in checkpoints if isinstance(c.get("size"), int)}

    head, expected, seen, heads = anchor, start, set(), {start: anchor}
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

    latest, good_size = None, start
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
        if cp_size < start:
            raise Failure(f"{label} lies before the proof's first link ({start}).")
        if heads[cp_size] != checkpoint["head_hash"]:
            raise Failure(
                f"{label} signed head {checkpoint['head_hash'][:16]}… but the chain has "
                f"{heads[cp_size][:16]}… there: an entry between positions {good_size} and "
                f"{cp_size - 1} was rewritten together with the hashes after it.",
                good_size,
            )
        good_size, latest = max(good_size, cp_size), checkpoint

    if proof:
        entries = f"{_count(len(hashes), 'entry', 'entries')} proven from position {start}"
    elif window is None:
        entries = "no entries"
    else:
        entries = f"entries {window['from']} to {window['to']}"
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
    if proof and (latest is None or latest["size"] != size):
        raise Failure("the proof's links are not all covered by a signed checkpoint.")
    return Verified(line, parsed)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# --- What an export holds beside its bundle ------------------------------------------------


def check_audit_log(source: Source, verified: Verified) -> str:
    """audit-log.jsonl: every line is a verified canonical entry, byte for byte;
    audit-log.csv: the same entries in the same order, with the same event and time."""
    proven = {line for line, _ in verified.entries.values()}
    jsonl = lines(source.read("audit-log.jsonl"))
    ids = []
    for number, line in enumerate(jsonl, start=1):
        if line not in proven:
            raise Failure(
                f"audit-log.jsonl line {number} is not an entry of the verified bundle "
                "(it was changed or added)."
            )
        ids.append(json.loads(line)["id"])
    if source.has("audit-log.csv"):
        try:
            text = source.read("audit-log.csv").decode("utf-8")
        except UnicodeDecodeError:
            raise Failure("audit-log.csv is not UTF-8.") from None
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        if len(rows) != len(ids):
            raise Failure(
                f"audit-log.csv has {len(rows)} rows, audit-log.jsonl {len(ids)} entries."
            )
        for number, (row, entry_id) in enumerate(zip(rows, ids, strict=True), start=2):
            entry = verified.entries[entry_id][1]
            if (
                row.get("id") != str(entry_id)
                or row.get("event") != entry.get("event")
                or row.get("timestamp") != entry.get("timestamp")
            ):
                raise Failure(
                    f"audit-log.csv line {number} does not match verified entry {entry_id} "
                    "(id, event or time changed)."
                )
    return (
        f"; audit-log.csv and audit-log.jsonl match the verified entries "
        f"({_count(len(ids), 'entry', 'entries')})"
    )


def check_pack(source: Source, verified: Verified, prefix: str) -> str:
    """An evidence pack: pack.json is the one sealed into the ledger, every file matches it,
    nothing else was added, and every record is backed by proven entries naming it."""
    raw = source.read("pack.json")
    pack = parse_json(raw, "pack.json")
    if not isinstance(pack, dict) or pack.get("format") != PACK_FORMAT:
        raise Failure(f'pack.json is not a "{PACK_FORMAT}" manifest.')
    digest = hashlib.sha256(raw).hexdigest()
    sealed = [
        entry
        for _, entry in verified.entries.values()
        if entry.get("event") == SEALED_EVENT
        and isinstance(entry.get("additional_data"), dict)
        and entry["additional_data"].get("pack_sha256") == digest
    ]
    if not sealed:
        raise Failure(
            "pack.json is not the one the registry sealed into the ledger: no proven "
            f"{SEALED_EVENT} entry names its SHA-256 {digest[:16]}… (the manifest was changed)."
        )
    files = pack.get("files")
    if not isinstance(files, dict):
        raise Failure("pack.json has no files.")
    for name in source.names():
        if name != "pack.json" and not name.startswith(prefix) and name not in files:
            raise Failure(f"{name} is in the pack but not in pack.json (it was added).")
    records = backed = 0
    entries = verified.entries
    for name, info in sorted(files.items()):
        if not source.has(name):
            raise Failure(f"{name} is listed in pack.json but missing from the pack.")
        if hashlib.sha256(source.read(name)).hexdigest() != info.get("sha256"):
            raise Failure(f"{name} does not match its SHA-256 in pack.json (the file was changed).")
        for number, record in enumerate(info.get("records") or [], start=1):
            ids = record.get("entries") or []
            missing = [i for i in ids if i not in entries]
            if missing:
                raise Failure(
                    f"{name} record {number} is backed by entry {missing[0]}, which the pack "
                    "does not prove."
                )
            if not ids:
                raise Failure(f"{name} record {number} is backed by no ledger entry.")
            named = {
                f"{entries[i][1].get('content_type')}:{entries[i][1].get('object_pk')}" for i in ids
            }
            for item in record.get("objects") or []:
                if item not in named:
                    raise Failure(f"{name} record {number}: no backing entry names {item}.")
            if "count" in record:
                match = record.get("match") or {}
                for i in ids:
                    entry = entries[i][1]
                    data = entry.get("additional_data") or {}
                    if entry.get("event") != match.get("event") or any(
                        data.get(k) != v for k, v in match.items() if k != "event"
                    ):
                        raise Failure(
                            f"{name} record {number}: entry {i} is not a {match.get('event')} "
                            "matching the record."
                        )
                if record["count"] != len(ids):
                    raise Failure(
                        f"{name} record {number} counts {record['count']}, its entries are "
                        f"{len(ids)}."
                    )
            records += 1
            backed += len(ids)
    return (
        f"; evidence pack for dataset {pack.get('dataset')} (export {pack.get('export')}): "
        f"{_count(len(files), 'file matches', 'files match')} pack.json, sealed in ledger "
        f"entry {sealed[0]['id']}; {_count(records, 'record', 'records')} backed by proven "
        "entries"
    )


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
        source = Source(args.bundle)
        prefix = bundle_prefix(source)
        files = read_files(source, prefix)
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
        verified = verify(files, keyset)
        line = verified.line
        if source.has("pack.json"):
            line += check_pack(source, verified, prefix)
        elif prefix and source.has("audit-log.jsonl"):
            line += check_audit_log(source, verified)
        print(line)
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
