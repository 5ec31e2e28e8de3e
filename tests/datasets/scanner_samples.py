"""Known-answer values and sample builders for the scanner tests (and a scanner benchmark)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from stdnum import iban, luhn

from datasets.scanner import ColumnProposal, Sample, scan_sample

# Published test card numbers (Visa, Mastercard, Amex, Discover, JCB, Diners): all pass Luhn.
VALID_CARDS = (
    "4111111111111111",
    "4012888888881881",
    "5555555555554444",
    "5105105105105100",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "6011000990139424",
    "3530111333300000",
    "3566002020360505",
    "2223003122003222",
    "30569309025904",
)

FIRST = ("Alice", "Bob", "Carlos", "Diana", "Emma", "Felix", "Grace", "Hannah", "Ivan", "Julia")
LAST = ("Smith", "Okafor", "Garcia", "Novak", "Jensen", "Moreau", "Rossi", "Weber")


def luhn_failing(count: int) -> list[str]:
    """16-digit Visa-looking numbers whose check digit is wrong by one."""
    numbers = []
    for i in range(count):
        body = f"4{539_0000_0000_000 + 7919 * i:014d}"
        numbers.append(body + str((int(luhn.calc_check_digit(body)) + 1) % 10))
    return numbers


def luhn_passing(count: int) -> list[str]:
    numbers = []
    for i in range(count):
        body = f"4{539_0000_0000_000 + 7919 * i:014d}"
        numbers.append(body + luhn.calc_check_digit(body))
    return numbers


def ibans(count: int) -> list[str]:
    """German IBANs with valid check digits."""
    result = []
    for i in range(count):
        bban = f"{37040044 + i:08d}{532013000 + 101 * i:010d}"
        result.append(f"DE{iban.calc_check_digits('DE00' + bban)}{bban}")
    return result


def ssns(count: int) -> list[str]:
    """Valid US SSNs: area 001-665 or 667-899, group and serial not zero."""
    return [
        f"{101 + 7 * i % 565:03d}-{10 + i % 80:02d}-{1000 + 37 * i % 9000:04d}"
        for i in range(count)
    ]


INVALID_SSNS = ("000-12-3456", "666-12-3456", "900-12-3456", "987-65-4321", "123-00-4567")


def emails(count: int) -> list[str]:
    return [f"{FIRST[i % 10].lower()}.{LAST[i % 8].lower()}{i}@example.org" for i in range(count)]


def phones(count: int) -> list[str]:
    formats = ("+1 415-555-{:04d}", "+44 20 7946 {:04d}", "+49 30 1234{:04d}", "(212) 555-{:04d}")
    return [formats[i % 4].format(2600 + i) for i in range(count)]


def names(count: int) -> list[str]:
    return [f"{FIRST[i % 10]} {LAST[i % 8]}" for i in range(count)]


def sample_of(**columns: list[object]) -> Sample:
    """A sample whose columns are the keyword arguments, in order."""
    length = max(len(values) for values in columns.values())
    rows = [
        {name: values[i] if i < len(values) else None for name, values in columns.items()}
        for i in range(length)
    ]
    return Sample(columns=list(columns), rows=rows, truncated=False)


def scan_one(name: str, values: list[object]) -> ColumnProposal:
    (proposal,) = scan_sample(sample_of(**{name: values}))
    return proposal


def write_csv(path: Path, rows: list[list[object]], delimiter: str = ",") -> str:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    return str(path)


def write_jsonl(path: Path, objects: list[object]) -> str:
    path.write_text("".join(json.dumps(obj) + "\n" for obj in objects), encoding="utf-8")
    return str(path)


def write_parquet(path: Path, columns: dict[str, list[object]], row_group_size=None) -> str:
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return str(path)


def wide_sample(rows: int = 1000) -> Sample:
    """30 columns of mixed personal and ordinary data, as a catalog scan meets them."""
    columns = {
        "email": emails(rows),
        "phone": phones(rows),
        "card": [VALID_CARDS[i % len(VALID_CARDS)] for i in range(rows)],
        "iban": ibans(rows),
        "ssn": ssns(rows),
        "ip": [f"10.{i % 256}.{i // 256}.{(i * 7) % 256}" for i in range(rows)],
        "lat": [round(52 + i / 997, 5) for i in range(rows)],
        "lon": [round(13 + i / 991, 5) for i in range(rows)],
        "full_name": names(rows),
        "date_of_birth": [
            f"{1950 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(rows)
        ],
        "created_at": [f"2024-{1 + i % 12:02d}-01T10:{i % 60:02d}:00+00:00" for i in range(rows)],
        "zip": [f"{10000 + 37 * i:05d}" for i in range(rows)],
        "notes": [
            f"Customer {i} called about a late delivery and asked for a refund."
            for i in range(rows)
        ],
        "amount": [round(i * 1.37, 2) for i in range(rows)],
        "quantity": [i % 9 + 1 for i in range(rows)],
        "sku": [f"SKU-{10000 + i}" for i in range(rows)],
        "status": [("open", "closed", "pending")[i % 3] for i in range(rows)],
        "order_id": [100_000_000 + 7 * i for i in range(rows)],
        "gender": [("female", "male", "nonbinary")[i % 3] for i in range(rows)],
        "age": [18 + i % 70 for i in range(rows)],
        "country": [("DE", "FR", "NL")[i % 3] for i in range(rows)],
        "city": [("Berlin", "Paris", "Utrecht")[i % 3] for i in range(rows)],
        "ethnicity": [("group a", "group b")[i % 2] for i in range(rows)],
        "user_id": [f"u-{i:06d}" for i in range(rows)],
        "score": [i / rows for i in range(rows)],
        "reference": luhn_failing(rows),
        "year": [1990 + i % 35 for i in range(rows)],
        "device_id": [f"{(i * 2654435761) % 2**64:016x}" for i in range(rows)],
        "diagnosis": [("J45", "E11.9", "I10")[i % 3] for i in range(rows)],
        "comment": [("fine", "ok", "late")[i % 3] for i in range(rows)],
    }
    return sample_of(**columns)
