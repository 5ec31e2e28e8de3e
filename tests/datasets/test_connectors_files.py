"""The file retention connector: CSV, JSON Lines and Parquet files (one file or a folder of
partitions) are matched row by row, rewritten through a scratch file and an atomic rename, or
deleted whole; every problem a person can fix is a ConnectorError with a fixed message."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datasets.connectors import (
    ANONYMIZE,
    DELETE,
    Batch,
    ConnectorError,
    Criteria,
    Layout,
    Preview,
    connector_for,
)
from datasets.connectors import files as messages
from datasets.connectors.files import FileConnector

FORMATS = ("csv", "jsonl", "parquet")
EXTENSION = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}
LAYOUT = Layout(
    subject_field="user_id",
    event_time_field="created_at",
    identifier_fields=("email", "user_id"),
)
CUTOFF = datetime(2022, 1, 1, tzinfo=UTC)

# Event times in every accepted spelling: Z, a date alone, an offset, none.
ROWS = [
    {"id": "1", "user_id": "s1", "email": "a@example.org", "created_at": "2020-01-01T00:00:00Z"},
    {"id": "2", "user_id": "s2", "email": "b@example.org", "created_at": "2021-06-01"},
    {
        "id": "3",
        "user_id": "s1",
        "email": "c@example.org",
        "created_at": "2023-03-01T12:00:00+02:00",
    },
    {"id": "4", "user_id": "s3", "email": "d@example.org", "created_at": None},
]


@pytest.fixture(autouse=True)
def _roots(settings, tmp_path):
    settings.RETENTION_FILE_ROOTS = [tmp_path.resolve()]


def write(kind: str, path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "csv":
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(list(rows[0]))
            writer.writerows([["" if v is None else v for v in row.values()] for row in rows])
    elif kind == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def read(kind: str, path: Path) -> list[dict]:
    """Rows as dicts, empty cells as None whatever the format."""
    if kind == "csv":
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        return [{k: (v if v != "" else None) for k, v in row.items()} for row in rows]
    if kind == "jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return pq.read_table(path).to_pylist()


def ids(kind: str, path: Path) -> list[str]:
    return [row["id"] for row in read(kind, path)]


def connector(kind: str, location: Path, layout: Layout = LAYOUT) -> FileConnector:
    return FileConnector(location=str(location), layout=layout, options={"format": kind})


def run(conn: FileConnector, criteria: Criteria, operation: str = DELETE) -> list[Batch]:
    conn.check(criteria, operation)
    batches = []
    for batch in conn.plan(criteria, operation, batch_size=2):
        assert conn.apply(batch, criteria) == batch.rows
        batches.append(batch)
    return batches


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def error(call, *args, **kwargs) -> ConnectorError:
    with pytest.raises(ConnectorError) as caught:
        result = call(*args, **kwargs)
        if not isinstance(result, (int, Preview, type(None))):
            list(result)  # a lazy plan
    return caught.value


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# --- deleting -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FORMATS)
def test_delete_by_age_keeps_newer_rows_and_rows_without_event_time(tmp_path, kind):
    # given
    path = write(kind, tmp_path / f"events{EXTENSION[kind]}", ROWS)

    # when
    batches = run(connector(kind, path), Criteria(older_than=CUTOFF))

    # then
    assert [(b.rows, b.files, b.payload["action"]) for b in batches] == [(2, 0, "rewrite")]
    assert ids(kind, path) == ["3", "4"]
    assert listing(tmp_path) == [f"events{EXTENSION[kind]}"]


@pytest.mark.parametrize("kind", FORMATS)
def test_delete_by_subject_removes_every_row_of_those_subjects(tmp_path, kind):
    # given
    path = write(kind, tmp_path / f"events{EXTENSION[kind]}", ROWS)

    # when
    batches = run(connector(kind, path), Criteria(subject_ids=frozenset({"s1", "nobody"})))

    # then
    assert [b.rows for b in batches] == [2]
    assert ids(kind, path) == ["2", "4"]


@pytest.mark.parametrize("kind", FORMATS)
def test_held_subjects_are_never_deleted(tmp_path, kind):
    # given
    path = write(kind, tmp_path / f"events{EXTENSION[kind]}", ROWS)
    criteria = Criteria(
        older_than=CUTOFF,
        subject_ids=frozenset({"s3"}),
        keep_subject_ids=frozenset({"s1"}),
    )

    # when
    run(connector(kind, path), criteria)

    # then
    assert ids(kind, path) == ["1", "3"]


@pytest.mark.parametrize("kind", FORMATS)
def test_a_second_plan_after_applying_yields_nothing_and_nothing_remains(tmp_path, kind):
    # given
    path = write(kind, tmp_path / f"events{EXTENSION[kind]}", ROWS)
    conn = connector(kind, path)
    criteria = Criteria(older_than=CUTOFF, subject_ids=frozenset({"s3"}))
    run(conn, criteria)

    # when
    second = list(conn.plan(criteria, DELETE, batch_size=100))

    # then
    assert second == []
    assert conn.remaining(criteria, DELETE) == 0
    assert ids(kind, path) == ["3"]


@pytest.mark.parametrize("kind", FORMATS)
def test_remaining_counts_matching_rows_before_deletion(tmp_path, kind):
    # given
    path = write(kind, tmp_path / f"events{EXTENSION[kind]}", ROWS)

    # when
    remaining = connector(kind, path).remaining(Criteria(everything=True), DELETE)

    # then
    assert remaining == 4


@pytest.mark.parametrize("kind", FORMATS)
def test_deleting_everything_in_a_partitioned_folder_unlinks_every_data_file(tmp_path, kind):
    # given
    ext = EXTENSION[kind]
    folder = tmp_path / "events"
    old = write(kind, folder / "dt=2020-01-01" / f"part-0{ext}", ROWS[:2])
    new = write(kind, folder / "dt=2023-03-01" / f"part-0{ext}", ROWS[2:])
    (folder / "_SUCCESS").write_text("")
    (folder / f".hidden{ext}").write_bytes(old.read_bytes())
    conn = connector(kind, folder)

    # when
    batches = run(conn, Criteria(everything=True))

    # then
    assert [(b.rows, b.files) for b in batches] == [(2, 1), (2, 1)]
    assert [b.payload["path"] for b in batches] == [str(old.resolve()), str(new.resolve())]
    assert listing(folder) == [f".hidden{ext}", "_SUCCESS"]
    assert conn.remaining(Criteria(everything=True), DELETE) == 0


@pytest.mark.parametrize("kind", FORMATS)
def test_delete_by_age_unlinks_only_the_fully_expired_partition(tmp_path, kind):
    # given
    ext = EXTENSION[kind]
    folder = tmp_path / "events"
    old = write(kind, folder / "dt=2020" / f"part-0{ext}", ROWS[:2])
    new = write(kind, folder / "dt=2023" / f"part-0{ext}", ROWS[2:])
    before = sha256(old)
    new_bytes = new.read_bytes()
    conn = connector(kind, folder)

    # when
    preview = conn.preview(Criteria(older_than=CUTOFF), DELETE)
    batches = run(conn, Criteria(older_than=CUTOFF))

    # then
    assert preview == Preview(rows=2, files=1, oldest=datetime(2020, 1, 1, tzinfo=UTC), subjects=2)
    assert [b.payload for b in batches] == [
        {
            "action": "unlink",
            "path": str(old.resolve()),
            "before": before,
            "rows": 2,
            "criteria": Criteria(older_than=CUTOFF).digest(),
        }
    ]
    assert [(b.rows, b.files) for b in batches] == [(2, 1)]
    assert not old.exists()
    assert new.read_bytes() == new_bytes


def test_a_single_file_whose_every_row_expires_is_emptied_not_deleted(tmp_path):
    # given
    path = write("csv", tmp_path / "events.csv", ROWS)
    conn = connector("csv", path)

    # when
    batches = run(conn, Criteria(everything=True))

    # then
    assert [(b.payload["action"], b.rows, b.files) for b in batches] == [("rewrite", 4, 0)]
    assert path.read_text() == "id,user_id,email,created_at\n"
    assert conn.remaining(Criteria(everything=True), DELETE) == 0


# --- previewing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FORMATS)
def test_preview_counts_matching_rows_oldest_event_time_and_distinct_subjects(tmp_path, kind):
    # given
    path = write(kind, tmp_path / f"events{EXTENSION[kind]}", ROWS)
    before = path.read_bytes()
    conn = connector(kind, path)

    # when
    by_age = conn.preview(Criteria(older_than=CUTOFF), DELETE)
    by_subject = conn.preview(Criteria(subject_ids=frozenset({"s1", "s3"})), DELETE)
    nothing = conn.preview(Criteria(), DELETE)

    # then
    assert by_age == Preview(rows=2, files=0, oldest=datetime(2020, 1, 1, tzinfo=UTC), subjects=2)
    assert by_subject == Preview(
        rows=3, files=0, oldest=datetime(2020, 1, 1, tzinfo=UTC), subjects=2
    )
    assert nothing == Preview()
    assert path.read_bytes() == before
    assert listing(tmp_path) == [f"events{EXTENSION[kind]}"]


def test_event_times_with_offsets_naive_times_and_dates_compare_in_utc(tmp_path):
    # given: each row is one second either side of the cutoff, in a different spelling
    rows = [
        {"id": "z-before", "created_at": "2021-12-31T23:59:59Z"},
        {"id": "z-at", "created_at": "2022-01-01T00:00:00Z"},
        {"id": "offset-before", "created_at": "2022-01-01T01:59:59+02:00"},
        {"id": "offset-at", "created_at": "2022-01-01T02:00:00+02:00"},
        {"id": "naive-before", "created_at": "2021-12-31 23:59:59"},
        {"id": "naive-at", "created_at": "2022-01-01T00:00:00"},
        {"id": "date-before", "created_at": "2021-12-31"},
        {"id": "date-at", "created_at": "2022-01-01"},
        {"id": "nanoseconds-before", "created_at": "2021-12-31T23:59:59.999999999Z"},
        {"id": "blank", "created_at": " "},
    ]
    path = write("jsonl", tmp_path / "events.jsonl", rows)

    # when
    run(
        connector("jsonl", path, Layout(event_time_field="created_at")), Criteria(older_than=CUTOFF)
    )

    # then
    assert ids("jsonl", path) == ["z-at", "offset-at", "naive-at", "date-at", "blank"]


# --- anonymising --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FORMATS)
def test_anonymize_empties_identifiers_of_matching_rows_and_a_second_run_changes_nothing(
    tmp_path, kind
):
    # given
    path = write(kind, tmp_path / f"events{EXTENSION[kind]}", ROWS)
    conn = connector(kind, path)
    criteria = Criteria(older_than=CUTOFF)

    # when
    first = run(conn, criteria, ANONYMIZE)
    after_first = path.read_bytes()
    second = list(conn.plan(criteria, ANONYMIZE, batch_size=10))

    # then
    assert [(b.rows, b.files, b.payload["action"]) for b in first] == [(2, 0, "rewrite")]
    assert read(kind, path) == [
        {"id": "1", "user_id": None, "email": None, "created_at": "2020-01-01T00:00:00Z"},
        {"id": "2", "user_id": None, "email": None, "created_at": "2021-06-01"},
        ROWS[2],
        ROWS[3],
    ]
    assert second == []
    assert path.read_bytes() == after_first
    assert conn.remaining(criteria, ANONYMIZE) == 0
    assert conn.preview(criteria, ANONYMIZE) == Preview()


@pytest.mark.parametrize("kind", FORMATS)
def test_anonymize_never_unlinks_a_file_even_when_every_row_matches(tmp_path, kind):
    # given
    folder = tmp_path / "events"
    path = write(kind, folder / f"part-0{EXTENSION[kind]}", ROWS)

    # when
    batches = run(connector(kind, folder), Criteria(everything=True), ANONYMIZE)

    # then
    assert [(b.payload["action"], b.rows, b.files) for b in batches] == [("rewrite", 4, 0)]
    assert [(row["id"], row["user_id"], row["email"]) for row in read(kind, path)] == [
        ("1", None, None),
        ("2", None, None),
        ("3", None, None),
        ("4", None, None),
    ]


def test_anonymize_counts_only_rows_that_still_have_an_identifier(tmp_path):
    # given
    rows = [
        {"id": "1", "user_id": None, "email": None, "created_at": "2020-01-01"},
        {"id": "2", "user_id": None, "email": "b@example.org", "created_at": "2020-01-01"},
    ]
    path = write("jsonl", tmp_path / "events.jsonl", rows)

    # when
    remaining = connector("jsonl", path).remaining(Criteria(older_than=CUTOFF), ANONYMIZE)

    # then
    assert remaining == 1


# --- the batch protocol -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FORMATS)
def test_a_rewrite_batch_names_the_file_its_scratch_copy_and_both_digests(tmp_path, kind):
    # given
    path = write(kind, tmp_path / f"events{EXTENSION[kind]}", ROWS)
    before = sha256(path)
    conn = connector(kind, path)

    # when
    [batch] = list(conn.plan(Criteria(older_than=CUTOFF), DELETE, batch_size=1))

    # then
    scratch = Path(batch.payload["scratch"])
    assert batch.payload == {
        "action": "rewrite",
        "path": str(path.resolve()),
        "scratch": str(scratch),
        "before": before,
        "after": sha256(scratch),
        "rows": 2,
        "criteria": Criteria(older_than=CUTOFF).digest(),
    }
    assert scratch.parent == path.resolve().parent
    assert re.fullmatch(rf"\.events{EXTENSION[kind]}\.retention-[0-9a-f]+\.tmp", scratch.name)
    assert sha256(path) == before
    assert ids(kind, scratch) == ["3", "4"]
    assert json.loads(json.dumps(batch.payload)) == batch.payload


@pytest.mark.parametrize("kind", FORMATS)
def test_applied_is_none_before_apply_and_the_rows_after(tmp_path, kind):
    # given
    folder = tmp_path / "events"
    write(kind, folder / "a" / f"part{EXTENSION[kind]}", ROWS[:2])
    write(kind, folder / "b" / f"part{EXTENSION[kind]}", ROWS)
    conn = connector(kind, folder)
    batches = conn.plan(Criteria(older_than=CUTOFF), DELETE, batch_size=1)
    unlink = next(batches)
    before_unlink = conn.applied(unlink)
    conn.apply(unlink)
    rewrite = next(batches)
    before_rewrite = conn.applied(rewrite)

    # when
    conn.apply(rewrite)

    # then
    assert [unlink.payload["action"], rewrite.payload["action"]] == ["unlink", "rewrite"]
    assert (before_unlink, conn.applied(unlink)) == (None, unlink.rows)
    assert (before_rewrite, conn.applied(rewrite)) == (None, rewrite.rows)
    assert list(batches) == []


@pytest.mark.parametrize("kind", FORMATS)
def test_discard_removes_the_scratch_file_and_leaves_the_data(tmp_path, kind):
    # given
    path = write(kind, tmp_path / f"events{EXTENSION[kind]}", ROWS)
    original = path.read_bytes()
    conn = connector(kind, path)
    [batch] = list(conn.plan(Criteria(older_than=CUTOFF), DELETE, batch_size=1))

    # when
    conn.discard(batch)

    # then
    assert not Path(batch.payload["scratch"]).exists()
    assert listing(tmp_path) == [f"events{EXTENSION[kind]}"]
    assert path.read_bytes() == original
    assert conn.applied(batch) is None


@pytest.mark.parametrize("kind", FORMATS)
def test_apply_refuses_a_file_changed_after_planning(tmp_path, kind):
    # given
    path = write(kind, tmp_path / f"events{EXTENSION[kind]}", ROWS)
    conn = connector(kind, path)
    [batch] = list(conn.plan(Criteria(older_than=CUTOFF), DELETE, batch_size=1))
    changed = write(kind, path, [*ROWS, {**ROWS[0], "id": "5"}]).read_bytes()

    # when
    caught = error(conn.apply, batch)

    # then
    assert caught.code == "failed"
    assert caught.message == messages.CHANGED.format(file=f"events{EXTENSION[kind]}")
    assert path.read_bytes() == changed
    assert listing(tmp_path) == [f"events{EXTENSION[kind]}"]
    assert conn.applied(batch) is None


def test_apply_refuses_to_unlink_a_partition_changed_after_planning(tmp_path):
    # given
    folder = tmp_path / "events"
    path = write("csv", folder / "dt=2020" / "part.csv", ROWS[:2])
    conn = connector("csv", folder)
    [batch] = list(conn.plan(Criteria(older_than=CUTOFF), DELETE, batch_size=1))
    with open(path, "a") as f:
        f.write("9,s9,z@example.org,2024-01-01\n")

    # when
    caught = error(conn.apply, batch)

    # then
    assert (caught.code, caught.message) == (
        "failed",
        messages.CHANGED.format(file="dt=2020/part.csv"),
    )
    assert ids("csv", path) == ["1", "2", "9"]


def test_apply_refuses_a_batch_pointing_outside_the_roots(tmp_path, settings):
    # given
    path = write("csv", tmp_path / "data" / "events.csv", ROWS)
    conn = connector("csv", path)
    settings.RETENTION_FILE_ROOTS = [(tmp_path / "data").resolve()]
    batch = Batch(
        payload={"action": "unlink", "path": str(tmp_path / "x.csv"), "before": "0", "rows": 1},
        rows=1,
    )

    # when
    caught = error(conn.apply, batch)

    # then
    assert (caught.code, caught.message) == ("failed", messages.BAD_BATCH)


# --- what a person must fix -------------------------------------------------------------------


def test_a_location_outside_the_roots_is_forbidden(tmp_path, settings):
    # given
    settings.RETENTION_FILE_ROOTS = [(tmp_path / "allowed").resolve()]
    path = write("csv", tmp_path / "elsewhere" / "events.csv", ROWS)
    conn = connector("csv", path)

    # when
    caught = [
        error(conn.check, Criteria(everything=True)),
        error(conn.plan, Criteria(everything=True), DELETE, batch_size=1),
    ]

    # then
    assert [(c.code, c.message) for c in caught] == [
        ("forbidden", messages.OUTSIDE_ROOTS.format(location=str(path)))
    ] * 2
    assert ids("csv", path) == ["1", "2", "3", "4"]


def test_a_link_out_of_the_roots_is_forbidden(tmp_path, settings):
    # given
    settings.RETENTION_FILE_ROOTS = [(tmp_path / "allowed").resolve()]
    outside = write("csv", tmp_path / "elsewhere" / "events.csv", ROWS)
    folder = tmp_path / "allowed" / "events"
    folder.mkdir(parents=True)
    (folder / "linked.csv").symlink_to(outside)

    # when
    caught = error(connector("csv", folder).check, Criteria(everything=True))

    # then
    assert (caught.code, caught.message) == (
        "forbidden",
        messages.LINK_OUTSIDE_ROOTS.format(file="linked.csv"),
    )


def test_a_missing_location_is_unreachable(tmp_path):
    # given
    conn = connector("parquet", tmp_path / "gone")

    # when
    caught = error(conn.preview, Criteria(everything=True))

    # then
    assert (caught.code, caught.message) == (
        "unreachable",
        messages.NOT_FOUND.format(location=str(tmp_path / "gone")),
    )


def test_an_empty_folder_has_nothing_to_do(tmp_path):
    # given
    (tmp_path / "events").mkdir()
    conn = connector("jsonl", tmp_path / "events")

    # when
    conn.check(Criteria(everything=True))
    batches = list(conn.plan(Criteria(everything=True), DELETE, batch_size=1))

    # then
    assert batches == []
    assert conn.remaining(Criteria(everything=True)) == 0


def _parquet_bytes(tmp_path: Path) -> bytes:
    return write("parquet", tmp_path / "source" / "x.parquet", ROWS).read_bytes()


@pytest.mark.parametrize(
    ("kind", "content", "expected"),
    [
        (
            "csv",
            _parquet_bytes,
            messages.WRONG_TYPE.format(file="data.csv", found="Parquet file", expected="CSV"),
        ),
        (
            "csv",
            lambda _: b"id,user_id\n1,\xff\xfe\n",
            messages.NOT_TEXT.format(file="data.csv", expected="CSV"),
        ),
        (
            "jsonl",
            lambda _: b'{"id": "1", "created_at": "2020-01-01"}\n{"id": "2", \n',
            messages.JSONL_INVALID.format(line=2, file="data.jsonl"),
        ),
        (
            "jsonl",
            lambda _: b'{"id": "1", "created_at": "2020-01-01"}\n[1, 2]\n',
            messages.JSONL_NOT_OBJECT.format(line=2, file="data.jsonl", found="array"),
        ),
        (
            "parquet",
            lambda _: b"id,user_id,created_at\n1,s1,2020-01-01\n",
            messages.WRONG_TYPE.format(file="data.parquet", found="text file", expected="Parquet"),
        ),
        (
            "parquet",
            lambda tmp_path: _parquet_bytes(tmp_path)[:-40],
            messages.PARQUET_CORRUPT.format(file="data.parquet"),
        ),
    ],
    ids=["parquet-as-csv", "binary-csv", "bad-json-line", "json-array", "text", "truncated"],
)
def test_a_file_not_in_the_dataset_format_is_a_mismatch_and_left_unchanged(
    tmp_path, kind, content, expected
):
    # given
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / f"data{EXTENSION[kind]}"
    path.write_bytes(content(tmp_path))
    original = path.read_bytes()
    conn = connector(kind, folder, Layout(event_time_field="created_at"))

    # when
    caught = [
        error(conn.check, Criteria(older_than=CUTOFF)),
        error(conn.plan, Criteria(older_than=CUTOFF), DELETE, batch_size=1),
    ]

    # then
    assert [(c.code, c.message) for c in caught] == [("mismatch", expected)] * 2
    assert path.read_bytes() == original
    assert listing(folder) == [path.name]


@pytest.mark.parametrize("kind", FORMATS)
def test_an_unparseable_event_time_is_a_mismatch_naming_the_row_not_the_value(tmp_path, kind):
    # given
    rows = [*ROWS[:2], {**ROWS[2], "created_at": "last tuesday"}]
    path = write(kind, tmp_path / f"events{EXTENSION[kind]}", rows)
    original = path.read_bytes()
    conn = connector(kind, path)

    # when
    caught = [
        error(conn.check, Criteria(older_than=CUTOFF)),
        error(conn.plan, Criteria(older_than=CUTOFF), ANONYMIZE, batch_size=1),
        error(conn.remaining, Criteria(older_than=CUTOFF)),
    ]

    # then
    expected = messages.BAD_EVENT_TIME.format(row=3, file=f"events{EXTENSION[kind]}")
    assert [(c.code, c.message) for c in caught] == [("mismatch", expected)] * 3
    assert "tuesday" not in expected
    assert path.read_bytes() == original
    assert listing(tmp_path) == [f"events{EXTENSION[kind]}"]


def test_an_unparseable_event_time_does_not_block_an_erasure_by_subject(tmp_path):
    # given
    rows = [{**ROWS[0], "created_at": "last tuesday"}, ROWS[1]]
    path = write("csv", tmp_path / "events.csv", rows)

    # when
    run(connector("csv", path), Criteria(subject_ids=frozenset({"s1"})))

    # then
    assert ids("csv", path) == ["2"]


@pytest.mark.parametrize("kind", FORMATS)
@pytest.mark.parametrize(
    ("criteria", "operation", "column", "role"),
    [
        (Criteria(older_than=CUTOFF), DELETE, "created", "event time"),
        (Criteria(subject_ids=frozenset({"s1"})), DELETE, "subject", "subject"),
        (
            Criteria(everything=True, keep_subject_ids=frozenset({"s1"})),
            DELETE,
            "subject",
            "subject",
        ),
        (Criteria(everything=True), ANONYMIZE, "phone", "identifier"),
    ],
    ids=["age", "subjects", "hold", "identifiers"],
)
def test_a_missing_column_is_a_mismatch(tmp_path, kind, criteria, operation, column, role):
    # given
    path = write(kind, tmp_path / f"events{EXTENSION[kind]}", ROWS)
    layout = Layout(
        subject_field="user_id" if column != "subject" else "subject",
        event_time_field="created_at" if column != "created" else "created",
        identifier_fields=("email", column) if column == "phone" else ("email",),
    )

    # when
    caught = error(connector(kind, path, layout).check, criteria, operation)

    # then
    assert (caught.code, caught.message) == (
        "mismatch",
        messages.MISSING_COLUMN.format(file=f"events{EXTENSION[kind]}", column=column, role=role),
    )


def test_criteria_needing_a_column_the_catalog_does_not_name_are_a_mismatch(tmp_path):
    # given
    path = write("csv", tmp_path / "events.csv", ROWS)
    conn = connector("csv", path, Layout())

    # when
    caught = [
        error(conn.check, Criteria(older_than=CUTOFF)),
        error(conn.check, Criteria(subject_ids=frozenset({"s1"}))),
        error(conn.check, Criteria(everything=True), ANONYMIZE),
    ]

    # then
    assert [(c.code, c.message) for c in caught] == [
        ("mismatch", messages.NO_EVENT_TIME_FIELD),
        ("mismatch", messages.NO_SUBJECT_FIELD),
        ("mismatch", messages.NO_IDENTIFIER_FIELDS),
    ]


def test_an_unknown_operation_or_format_is_unsupported(tmp_path):
    # given
    path = write("csv", tmp_path / "events.csv", ROWS)

    # when
    operation = error(connector("csv", path).check, Criteria(everything=True), "archive")
    kind = error(FileConnector, location=str(path), layout=LAYOUT, options={"format": "xlsx"})

    # then
    assert (operation.code, operation.message) == (
        "unsupported",
        messages.UNSUPPORTED_OPERATION.format(operation="archive"),
    )
    assert (kind.code, kind.message) == (
        "unsupported",
        messages.UNKNOWN_FORMAT.format(format="xlsx"),
    )


# --- keeping each format as it was ---------------------------------------------------------------


def test_csv_rows_that_stay_are_copied_byte_for_byte(tmp_path):
    # given: a byte-order mark, semicolons, CRLF, a quoted cell with a delimiter and a newline
    path = tmp_path / "events.csv"
    header = "\ufeffid;user_id;email;created_at\r\n"
    kept = '3;s1;"c@example.org; ""work""\r\nline two";2023-03-01\r\n\r\n4;s3;d@example.org;'
    path.write_bytes((header + "1;s1;a@example.org;2020-01-01\r\n" + kept).encode())

    # when
    run(connector("csv", path), Criteria(older_than=CUTOFF))

    # then
    assert path.read_bytes() == (header + kept).encode()


def test_csv_anonymised_rows_keep_the_delimiter_and_line_ending(tmp_path):
    # given
    path = tmp_path / "events.csv"
    path.write_bytes(
        b"id;user_id;email;created_at\r\n1;s1;a@example.org;2020-01-01\r\n"
        b'2;s2;"b;@example.org";2023-01-01'
    )

    # when
    run(connector("csv", path), Criteria(everything=True), ANONYMIZE)

    # then
    assert path.read_bytes() == (b"id;user_id;email;created_at\r\n1;;;2020-01-01\r\n2;;;2023-01-01")


def test_jsonl_lines_that_stay_are_copied_byte_for_byte_and_changed_lines_reserialised(tmp_path):
    # given
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b'{ "id":"1" , "user_id":"s1","email":"a@example.org","created_at":"2020-01-01"}\n'
        b"\n"
        b'{"id": "2",   "user_id": 7, "created_at": "2023-01-01", "note": "caf\xc3\xa9"}\n'
        b'{"id": "3", "user_id": "s3", "email": "c@example.org", "created_at": "2021-01-01"}'
    )

    # when
    run(connector("jsonl", path), Criteria(older_than=CUTOFF), ANONYMIZE)

    # then
    assert path.read_bytes() == (
        b'{"id": "1", "user_id": null, "email": null, "created_at": "2020-01-01"}\n'
        b"\n"
        b'{"id": "2",   "user_id": 7, "created_at": "2023-01-01", "note": "caf\xc3\xa9"}\n'
        b'{"id": "3", "user_id": null, "email": null, "created_at": "2021-01-01"}'
    )


def test_subject_ids_compare_as_strings_for_numbers_too(tmp_path):
    # given
    rows = [{"id": "1", "user_id": 7}, {"id": "2", "user_id": 70}, {"id": "3", "user_id": None}]
    jsonl = write("jsonl", tmp_path / "events.jsonl", rows)
    parquet = write("parquet", tmp_path / "events.parquet", rows)
    layout = Layout(subject_field="user_id")

    # when
    for kind, path in (("jsonl", jsonl), ("parquet", parquet)):
        run(connector(kind, path, layout), Criteria(subject_ids=frozenset({"7", ""})))

    # then
    assert ids("jsonl", jsonl) == ["2", "3"]
    assert ids("parquet", parquet) == ["2", "3"]


def test_parquet_native_timestamps_and_dates_are_matched_and_the_schema_kept(tmp_path):
    # given
    path = tmp_path / "events.parquet"
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("user_id", pa.string()),
            ("email", pa.dictionary(pa.int32(), pa.string())),
            ("created_at", pa.timestamp("ns")),
            ("day", pa.date32()),
        ],
        metadata={b"origin": b"test"},
    )
    table = pa.table(
        {
            "id": [1, 2, 3],
            "user_id": ["s1", "s2", "s3"],
            "email": pa.array(["a@x", "b@x", "c@x"]).dictionary_encode().cast(schema[2].type),
            "created_at": pa.array(
                [datetime(2021, 12, 31, 23, 59, 59), datetime(2022, 1, 1), None],
                pa.timestamp("ns"),
            ),
            "day": [date(2021, 12, 31), date(2022, 1, 1), None],
        },
        schema=schema,
    )
    pq.write_table(table, path, compression="zstd")
    by_time = connector("parquet", path, LAYOUT)
    by_day = connector(
        "parquet", path, Layout(event_time_field="day", identifier_fields=("email",))
    )

    # when
    run(by_time, Criteria(older_than=CUTOFF), ANONYMIZE)
    run(by_day, Criteria(older_than=CUTOFF), DELETE)

    # then
    written = pq.ParquetFile(path)
    assert written.schema_arrow == schema
    assert written.schema_arrow.metadata == {b"origin": b"test"}
    assert written.metadata.row_group(0).column(0).compression == "ZSTD"
    assert written.read().to_pylist() == [
        {
            "id": 2,
            "user_id": "s2",
            "email": "b@x",
            "created_at": datetime(2022, 1, 1),
            "day": date(2022, 1, 1),
        },
        {"id": 3, "user_id": "s3", "email": "c@x", "created_at": None, "day": None},
    ]


def test_check_changes_nothing_and_passes_on_good_data(tmp_path):
    # given
    folder = tmp_path / "events"
    for kind in FORMATS:
        write(kind, folder / f"part{EXTENSION[kind]}", ROWS)
    before = {name: (folder / name).read_bytes() for name in listing(folder)}

    # when
    for kind in FORMATS:
        connector(kind, folder).check(
            Criteria(older_than=CUTOFF, keep_subject_ids=frozenset({"s1"})), ANONYMIZE
        )

    # then
    assert {name: (folder / name).read_bytes() for name in listing(folder)} == before


def test_a_folder_holds_only_the_dataset_format_extensions(tmp_path):
    # given
    folder = tmp_path / "events"
    for name in ("a.jsonl", "b.ndjson", "c.JSON", "d.csv", "e.jsonl.gz", ".f.jsonl"):
        write("jsonl", folder / name, ROWS[:1])
    write("jsonl", folder / ".git" / "g.jsonl", ROWS[:1])

    # when
    batches = run(connector("jsonl", folder), Criteria(everything=True))

    # then
    assert [Path(b.payload["path"]).name for b in batches] == ["a.jsonl", "b.ndjson", "c.JSON"]
    assert listing(folder) == [".f.jsonl", ".git/g.jsonl", "d.csv", "e.jsonl.gz"]


def test_connector_for_builds_a_file_connector_for_each_format(tmp_path):
    # given
    path = tmp_path / "events"

    # when
    connectors = [
        connector_for(storage_kind=kind, location=str(path), layout=LAYOUT) for kind in FORMATS
    ]

    # then
    assert [(type(c), c.kind, c.supports(ANONYMIZE)) for c in connectors] == [
        (FileConnector, "csv", True),
        (FileConnector, "jsonl", True),
        (FileConnector, "parquet", True),
    ]


def test_the_verification_method_names_the_location(tmp_path):
    # given
    folder = tmp_path / "events"
    folder.mkdir()
    conn = connector("parquet", folder)

    # when
    sentences = [conn.verification_method(DELETE), conn.verification_method(ANONYMIZE)]

    # then
    assert sentences == [
        f"re-read of every Parquet file under {folder} counting rows that match the criteria",
        f"re-read of every Parquet file under {folder} counting rows that match the criteria "
        "and still have an identifier set",
    ]


def test_a_parquet_event_time_column_of_numbers_is_a_mismatch(tmp_path):
    # given
    path = tmp_path / "events.parquet"
    pq.write_table(pa.table({"id": ["1"], "created_at": [1_600_000_000]}), path)
    conn = connector("parquet", path, Layout(event_time_field="created_at"))

    # when
    caught = error(conn.check, Criteria(older_than=CUTOFF))

    # then
    assert (caught.code, caught.message) == (
        "mismatch",
        messages.EVENT_TIME_TYPE.format(column="created_at", file="events.parquet", found="int64"),
    )
    assert conn.preview(Criteria(everything=True)) == Preview(rows=1)


@pytest.mark.parametrize("kind", FORMATS)
def test_apply_refuses_a_batch_planned_under_other_criteria(tmp_path, kind):
    # given a rewrite planned before a subject was held
    path = write(kind, tmp_path / f"events{EXTENSION[kind]}", ROWS)
    original = path.read_bytes()
    conn = connector(kind, path)
    planned_under = Criteria(older_than=CUTOFF)
    [batch] = list(conn.plan(planned_under, DELETE, batch_size=1))
    held_since = Criteria(older_than=CUTOFF, keep_subject_ids=frozenset({"u1"}))

    # when it is applied with the criteria in force now
    caught = error(conn.apply, batch, held_since)

    # then nothing changed, the scratch file is gone, and the runner will plan again
    assert caught.code == "failed"
    assert caught.message == messages.CRITERIA_CHANGED.format(file=f"events{EXTENSION[kind]}")
    assert path.read_bytes() == original
    assert listing(tmp_path) == [f"events{EXTENSION[kind]}"]
