"""Connector.read_subject (subject access, GDPR Art. 15): every column of the rows about a
subject, from every format, reading only."""

from __future__ import annotations

from pathlib import Path

import pytest

from datasets.connectors import ConnectorError, Layout
from datasets.connectors.base import Connector
from tests.datasets.test_connectors_files import FORMATS, ROWS, connector, sha256, write

ONLY_SUBJECT = Layout(subject_field="user_id")


@pytest.fixture(autouse=True)
def _roots(settings, tmp_path):
    settings.RETENTION_FILE_ROOTS = [tmp_path.resolve()]


@pytest.mark.parametrize("kind", FORMATS)
def test_a_subjects_rows_are_read_whole_and_nothing_changes(kind, tmp_path):
    # given a folder of two partitions
    folder = tmp_path / "data"
    first = write(kind, folder / f"a.{kind}", ROWS[:2])
    second = write(kind, folder / f"b.{kind}", ROWS[2:])
    before = [sha256(first), sha256(second)]

    # when
    found = list(connector(kind, folder, ONLY_SUBJECT).read_subject(frozenset({"s1"}), limit=10))

    # then: both rows of s1, every column, the file they came from
    assert [(where, row["id"], row["email"]) for where, row in found] == [
        (f"a.{kind}", "1", "a@example.org"),
        (f"b.{kind}", "3", "c@example.org"),
    ]
    assert set(found[0][1]) == {"id", "user_id", "email", "created_at"}
    assert [sha256(first), sha256(second)] == before
    assert sorted(p.name for p in folder.iterdir()) == [f"a.{kind}", f"b.{kind}"]


@pytest.mark.parametrize("kind", FORMATS)
def test_the_limit_caps_what_is_read(kind, tmp_path):
    path = write(kind, tmp_path / f"data.{kind}", ROWS)

    found = list(connector(kind, path, ONLY_SUBJECT).read_subject(frozenset({"s1"}), limit=1))

    assert [row["id"] for _, row in found] == ["1"]


def test_a_file_without_the_subject_field_is_a_mismatch(tmp_path):
    path = write("csv", tmp_path / "data.csv", [{"id": "1", "other": "x"}])

    with pytest.raises(ConnectorError) as caught:
        list(connector("csv", path, ONLY_SUBJECT).read_subject(frozenset({"s1"}), limit=5))

    assert caught.value.code == "mismatch"


def test_a_connector_that_cannot_read_says_so(tmp_path):
    class WriteOnly(Connector):
        kind = "write_only"

        def check(self, criteria, operation="delete"): ...
        def preview(self, criteria, operation="delete"): ...
        def plan(self, criteria, operation, *, batch_size): ...
        def apply(self, batch): ...
        def applied(self, batch): ...
        def remaining(self, criteria, operation="delete"): ...

    store = WriteOnly(location=str(Path(tmp_path)), layout=ONLY_SUBJECT)

    with pytest.raises(ConnectorError) as caught:
        list(store.read_subject(frozenset({"s1"}), limit=5))

    assert (caught.value.code, caught.value.message) == (
        "unsupported",
        "The write_only connector cannot read a subject's rows.",
    )
