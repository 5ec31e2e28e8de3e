"""Reading bounded samples from CSV, JSON Lines, Parquet and PostgreSQL; every bad input gets a
SampleError whose code and message name the problem."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from datasets.scanner import Sample, SampleError, SampleSource, read_sample
from tests.datasets.scanner_samples import write_csv, write_jsonl, write_parquet

POSTGRES_URL = os.environ.get(
    "SCANNER_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)


def _error(source: SampleSource, **limits) -> SampleError:
    with pytest.raises(SampleError) as caught:
        read_sample(source, **limits)
    return caught.value


# --- CSV --------------------------------------------------------------------------------------


def test_csv_sample_keeps_columns_and_rows_in_source_order(tmp_path):
    # given
    path = write_csv(
        tmp_path / "people.csv",
        [
            ["email", "age", "city"],
            ["a@example.org", "41", "Berlin"],
            ["b@example.org", "", "Paris"],
        ],
    )

    # when
    sample = read_sample(SampleSource(kind="csv", path=path))

    # then
    assert sample == Sample(
        columns=["email", "age", "city"],
        rows=[
            {"email": "a@example.org", "age": "41", "city": "Berlin"},
            {"email": "b@example.org", "age": "", "city": "Paris"},
        ],
        truncated=False,
    )


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_csv_delimiter_is_sniffed(tmp_path, delimiter):
    path = write_csv(
        tmp_path / "s.csv", [["id", "name"], ["1", "Ann, Lee"], ["2", "Bo"]], delimiter=delimiter
    )

    sample = read_sample(SampleSource(kind="csv", path=path))

    assert sample.columns == ["id", "name"]
    assert sample.rows == [{"id": "1", "name": "Ann, Lee"}, {"id": "2", "name": "Bo"}]


def test_csv_with_a_single_column_falls_back_to_comma(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("email\na@example.org\nb@example.org\n", encoding="utf-8")

    sample = read_sample(SampleSource(kind="csv", path=str(path)))

    assert sample.columns == ["email"]
    assert [row["email"] for row in sample.rows] == ["a@example.org", "b@example.org"]


def test_csv_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffemail,name\r\na@example.org,Ann\r\n".encode())

    sample = read_sample(SampleSource(kind="csv", path=str(path)))

    assert sample.columns == ["email", "name"]
    assert sample.rows == [{"email": "a@example.org", "name": "Ann"}]


def test_csv_short_rows_are_padded_blank_lines_skipped_and_repeated_headers_renamed(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("id,name,name,\n1,Ann\n\n2,Bo,Bob,x\n", encoding="utf-8")

    sample = read_sample(SampleSource(kind="csv", path=str(path)))

    assert sample.columns == ["id", "name", "name_2", "column_4"]
    assert sample.rows == [
        {"id": "1", "name": "Ann", "name_2": None, "column_4": None},
        {"id": "2", "name": "Bo", "name_2": "Bob", "column_4": "x"},
    ]


def test_csv_reads_at_most_max_rows_and_says_it_truncated(tmp_path):
    path = write_csv(tmp_path / "many.csv", [["n"], *[[str(i)] for i in range(10)]])

    sample = read_sample(SampleSource(kind="csv", path=path), max_rows=3)

    assert sample.rows == [{"n": "0"}, {"n": "1"}, {"n": "2"}]
    assert sample.truncated is True


def test_csv_with_exactly_max_rows_is_not_truncated(tmp_path):
    path = write_csv(tmp_path / "three.csv", [["n"], ["0"], ["1"], ["2"]])

    sample = read_sample(SampleSource(kind="csv", path=path), max_rows=3)

    assert len(sample.rows) == 3
    assert sample.truncated is False


def test_binary_file_read_as_csv_is_unreadable(tmp_path):
    path = tmp_path / "blob.csv"
    path.write_bytes(b"id,name\n1,\x00\x01\x02\xff\n")

    error = _error(SampleSource(kind="csv", path=str(path)))

    assert error.code == "unreadable"
    assert error.message == "The file is not UTF-8 text; a CSV sample must be a UTF-8 text file."


def test_csv_that_is_not_utf8_is_unreadable(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("name,city\nJosé,Málaga\n".encode("latin-1"))

    error = _error(SampleSource(kind="csv", path=str(path)))

    assert (error.code, error.message) == (
        "unreadable",
        "The file is not UTF-8 text; a CSV sample must be a UTF-8 text file.",
    )


def test_csv_with_a_field_beyond_the_parser_limit_is_unreadable(tmp_path):
    path = tmp_path / "huge_field.csv"
    path.write_text('id,text\n1,"' + "x" * 200_000 + '"\n', encoding="utf-8")

    error = _error(SampleSource(kind="csv", path=str(path)))

    assert error.code == "unreadable"
    assert error.message == (
        "The CSV file could not be parsed at line 2: field larger than field limit (131072)."
    )


def test_parquet_file_given_as_csv_is_the_wrong_type(tmp_path):
    path = write_parquet(tmp_path / "data.csv", {"email": ["a@example.org"]})

    error = _error(SampleSource(kind="csv", path=path))

    assert (error.code, error.message) == (
        "wrong_type",
        "The file is a Parquet file, not a CSV file.",
    )


def test_json_lines_file_given_as_csv_is_the_wrong_type(tmp_path):
    path = write_jsonl(tmp_path / "data.csv", [{"email": "a@example.org"}])

    error = _error(SampleSource(kind="csv", path=path))

    assert (error.code, error.message) == (
        "wrong_type",
        "The file is a JSON Lines file, not a CSV file.",
    )


def test_excel_workbook_given_as_csv_is_the_wrong_type(tmp_path):
    path = tmp_path / "book.csv"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 100)

    error = _error(SampleSource(kind="csv", path=str(path)))

    assert (error.code, error.message) == (
        "wrong_type",
        "The file is a ZIP archive (for example an Excel workbook), not a CSV file.",
    )


def test_csv_with_a_header_and_no_rows_is_empty(tmp_path):
    path = write_csv(tmp_path / "header_only.csv", [["email", "name"]])

    error = _error(SampleSource(kind="csv", path=path))

    assert (error.code, error.message) == ("empty", "The sample has no data rows.")


def test_zero_byte_file_is_empty(tmp_path):
    path = tmp_path / "nothing.csv"
    path.write_bytes(b"")

    error = _error(SampleSource(kind="csv", path=str(path)))

    assert (error.code, error.message) == ("empty", "The sample file is empty.")


def test_file_over_the_size_limit_is_refused_before_reading(tmp_path):
    path = write_csv(tmp_path / "big.csv", [["n"], *[[str(i)] for i in range(100)]])

    error = _error(SampleSource(kind="csv", path=path), max_bytes=100)

    assert error.code == "too_large"
    assert error.message == (
        f"The sample file is {os.path.getsize(path)} bytes; the limit is 100 bytes. "
        "Upload a smaller sample."
    )


def test_size_limit_is_shown_in_megabytes():
    error_message = pytest.importorskip("datasets.scanner.readers").TOO_LARGE
    assert error_message.format(size="60.0 MB", limit="50.0 MB") == (
        "The sample file is 60.0 MB; the limit is 50.0 MB. Upload a smaller sample."
    )


def test_missing_file_is_unreadable(tmp_path):
    error = _error(SampleSource(kind="csv", path=str(tmp_path / "gone.csv")))

    assert (error.code, error.message) == ("unreadable", "The sample file was not found.")


def test_folder_instead_of_a_file_is_unreadable(tmp_path):
    error = _error(SampleSource(kind="jsonl", path=str(tmp_path)))

    assert (error.code, error.message) == ("unreadable", "The sample path is a folder, not a file.")


def test_file_source_without_a_path_is_unreadable():
    error = _error(SampleSource(kind="parquet"))

    assert (error.code, error.message) == ("unreadable", "No file was given for this sample.")


def test_unknown_source_kind_is_unsupported(tmp_path):
    path = write_csv(tmp_path / "a.xlsx", [["a"], ["1"]])

    error = _error(SampleSource(kind="xlsx", path=path))

    assert error.code == "unsupported"
    assert error.message == (
        'Cannot read a sample from a "xlsx" source; '
        "use a CSV, JSON Lines or Parquet file, or a PostgreSQL table."
    )


# --- JSON Lines -------------------------------------------------------------------------------


def test_json_lines_columns_are_the_union_of_keys_in_first_seen_order(tmp_path):
    path = write_jsonl(
        tmp_path / "events.jsonl",
        [{"id": 1, "email": "a@example.org"}, {"id": 2, "ip": "203.0.113.9", "tags": ["x"]}],
    )

    sample = read_sample(SampleSource(kind="jsonl", path=path))

    assert sample == Sample(
        columns=["id", "email", "ip", "tags"],
        rows=[
            {"id": 1, "email": "a@example.org", "ip": None, "tags": None},
            {"id": 2, "email": None, "ip": "203.0.113.9", "tags": ["x"]},
        ],
        truncated=False,
    )


def test_json_lines_skips_blank_lines_and_truncates_at_max_rows(tmp_path):
    path = tmp_path / "n.jsonl"
    path.write_text("".join(f'{{"n": {i}}}\n\n' for i in range(5)), encoding="utf-8")

    sample = read_sample(SampleSource(kind="jsonl", path=str(path)), max_rows=2)

    assert sample.rows == [{"n": 0}, {"n": 1}]
    assert sample.truncated is True


@pytest.mark.parametrize(
    ("line", "found"),
    [("[1, 2]", "array"), ('"text"', "string"), ("42", "number"), ("null", "null")],
)
def test_json_lines_line_that_is_not_an_object_is_unreadable_with_its_number(tmp_path, line, found):
    path = tmp_path / "mixed.jsonl"
    path.write_text(f'{{"a": 1}}\n{{"a": 2}}\n{line}\n', encoding="utf-8")

    error = _error(SampleSource(kind="jsonl", path=str(path)))

    assert error.code == "unreadable"
    assert error.message == (
        f"Line 3 is a JSON {found}, not an object; JSON Lines needs one object per line."
    )


def test_json_lines_line_that_is_not_json_is_unreadable_with_its_number(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")

    error = _error(SampleSource(kind="jsonl", path=str(path)))

    assert (error.code, error.message) == (
        "unreadable",
        "Line 2 is not valid JSON; JSON Lines needs one complete object per line.",
    )


def test_pretty_printed_json_is_unreadable_as_json_lines(tmp_path):
    path = tmp_path / "pretty.jsonl"
    path.write_text('{\n  "a": 1\n}\n', encoding="utf-8")

    error = _error(SampleSource(kind="jsonl", path=str(path)))

    assert (error.code, error.message) == (
        "unreadable",
        "Line 1 is not valid JSON; JSON Lines needs one complete object per line.",
    )


def test_csv_file_given_as_json_lines_is_the_wrong_type(tmp_path):
    path = write_csv(tmp_path / "data.jsonl", [["email"], ["a@example.org"]])

    error = _error(SampleSource(kind="jsonl", path=path))

    assert (error.code, error.message) == ("wrong_type", "The file is not a JSON Lines file.")


def test_json_lines_with_only_blank_lines_is_empty(tmp_path):
    path = tmp_path / "blank.jsonl"
    path.write_text("\n\n  \n", encoding="utf-8")

    error = _error(SampleSource(kind="jsonl", path=str(path)))

    assert (error.code, error.message) == ("empty", "The sample has no data rows.")


# --- Parquet ----------------------------------------------------------------------------------


def test_parquet_sample_keeps_types_and_stops_after_max_rows(tmp_path):
    # given 10 row groups of 100 rows
    path = write_parquet(
        tmp_path / "big.parquet",
        {"id": list(range(1000)), "born": [dt.date(1980, 1, 1)] * 1000},
        row_group_size=100,
    )

    # when
    sample = read_sample(SampleSource(kind="parquet", path=path), max_rows=250)

    # then
    assert sample.columns == ["id", "born"]
    assert len(sample.rows) == 250
    assert sample.rows[0] == {"id": 0, "born": dt.date(1980, 1, 1)}
    assert sample.rows[-1]["id"] == 249
    assert sample.truncated is True


def test_parquet_smaller_than_max_rows_is_read_whole(tmp_path):
    path = write_parquet(tmp_path / "small.parquet", {"email": ["a@example.org", None]})

    sample = read_sample(SampleSource(kind="parquet", path=path))

    assert sample == Sample(
        columns=["email"], rows=[{"email": "a@example.org"}, {"email": None}], truncated=False
    )


def test_csv_file_given_as_parquet_is_the_wrong_type(tmp_path):
    path = write_csv(tmp_path / "data.parquet", [["email"], ["a@example.org"]])

    error = _error(SampleSource(kind="parquet", path=path))

    assert (error.code, error.message) == (
        "wrong_type",
        "The file is a text file, not a Parquet file.",
    )


def test_truncated_parquet_file_is_unreadable(tmp_path):
    whole = write_parquet(tmp_path / "whole.parquet", {"n": list(range(1000))})
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(Path(whole).read_bytes()[:-200])

    error = _error(SampleSource(kind="parquet", path=str(cut)))

    assert (error.code, error.message) == (
        "unreadable",
        "The Parquet file could not be read; it may be truncated or corrupt.",
    )


def test_parquet_without_rows_is_empty(tmp_path):
    path = tmp_path / "none.parquet"
    pq.write_table(pa.table({"email": pa.array([], type=pa.string())}), path)

    error = _error(SampleSource(kind="parquet", path=str(path)))

    assert (error.code, error.message) == ("empty", "The sample has no data rows.")


# --- PostgreSQL -------------------------------------------------------------------------------


@pytest.fixture
def schema():
    """A throwaway schema in the local server's ``postgres`` database, dropped afterwards."""
    name = f"scanner_test_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def _create_customers(schema: str, rows: int) -> None:
    table = sql.Identifier(schema, "customers")
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE TABLE {} (id int, email text, born date, score numeric)").format(table)
        )
        with conn.cursor() as cursor:
            cursor.executemany(
                sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s)").format(table),
                [
                    (i, f"c{i}@example.org", dt.date(1980, 1, 1 + i % 28), i / 4)
                    for i in range(rows)
                ],
            )


def test_postgres_table_sample_has_its_columns_and_at_most_max_rows(schema):
    # given
    _create_customers(schema, rows=7)
    source = SampleSource(
        kind="postgres_table", table=f"{schema}.customers", connection_url=POSTGRES_URL
    )

    # when
    sample = read_sample(source, max_rows=5)

    # then
    assert sample.columns == ["id", "email", "born", "score"]
    assert len(sample.rows) == 5
    assert sample.rows[0]["email"] == "c0@example.org"
    assert sample.rows[0]["born"] == dt.date(1980, 1, 1)
    assert sample.truncated is True


def test_postgres_table_with_fewer_rows_than_the_limit_is_not_truncated(schema):
    _create_customers(schema, rows=3)
    source = SampleSource(
        kind="postgres_table", table=f"{schema}.customers", connection_url=POSTGRES_URL
    )

    sample = read_sample(source)

    assert len(sample.rows) == 3
    assert sample.truncated is False


def test_postgres_table_without_rows_is_empty(schema):
    _create_customers(schema, rows=0)
    source = SampleSource(
        kind="postgres_table", table=f"{schema}.customers", connection_url=POSTGRES_URL
    )

    error = _error(source)

    assert (error.code, error.message) == ("empty", "The sample has no data rows.")


@pytest.mark.parametrize("table", ["{schema}.no_such_table", "no_such_schema_x1.customers"])
def test_postgres_table_that_does_not_exist_is_an_unknown_table(schema, table):
    _create_customers(schema, rows=1)
    name = table.format(schema=schema)
    source = SampleSource(kind="postgres_table", table=name, connection_url=POSTGRES_URL)

    error = _error(source)

    assert error.code == "unknown_table"
    assert error.message == (
        f'The table "{name}" does not exist or the database user cannot see it.'
    )


@pytest.mark.parametrize(
    "table", ["customers", "public.customers; DROP TABLE x", 'public."Customers"', "a.b.c", ""]
)
def test_postgres_table_name_that_is_not_schema_dot_table_is_refused_before_connecting(table):
    # the connection URL points nowhere: the name is checked first
    source = SampleSource(
        kind="postgres_table", table=table, connection_url="postgres://nobody@127.0.0.1:1/x"
    )

    error = _error(source)

    assert error.code == "unknown_table"
    assert error.message == (
        f'"{table}" is not a table name of the form schema.table '
        "(letters, digits and underscores, starting with a letter or underscore)."
    )


def test_postgres_connection_failure_is_unreadable_and_does_not_leak_the_password():
    source = SampleSource(
        kind="postgres_table",
        table="public.customers",
        connection_url="postgres://scanner:Sup3r-S3cret@127.0.0.1:1/warehouse",
    )

    error = _error(source)

    assert error.code == "unreadable"
    assert error.message.startswith("Could not connect to the database at 127.0.0.1:1/warehouse: ")
    assert "Sup3r-S3cret" not in error.message
    assert "Sup3r-S3cret" not in str(error)


def test_postgres_connection_url_that_libpq_rejects_does_not_leak_the_password():
    source = SampleSource(
        kind="postgres_table",
        table="public.customers",
        connection_url="postgres://scanner:Sup3r-S3cret@127.0.0.1:notaport/warehouse",
    )

    error = _error(source)

    assert error.code == "unreadable"
    assert error.message.startswith("Could not connect to the database at 127.0.0.1/warehouse: ")
    assert "Sup3r-S3cret" not in error.message


def test_postgres_source_without_a_connection_is_unreadable():
    error = _error(SampleSource(kind="postgres_table", table="public.customers"))

    assert (error.code, error.message) == (
        "unreadable",
        "No database connection is configured for this table.",
    )


def test_postgres_source_with_a_non_postgres_url_is_unreadable():
    source = SampleSource(
        kind="postgres_table", table="public.t", connection_url="mysql://root@localhost/db"
    )

    error = _error(source)

    assert (error.code, error.message) == (
        "unreadable",
        "The database connection must be a postgres:// or postgresql:// URL.",
    )
