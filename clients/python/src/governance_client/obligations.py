"""Apply a decision's field obligations to a table: pandas DataFrame, pyarrow Table, or plain
rows (a list of dicts). Exactly as the decision says, or not at all:

- columns the decision does not name are removed (a lease serves its fields and nothing else);
- ``keep``: unchanged; ``drop``: removed; ``mask``: strings become ``"***"``, other values
  ``None`` (the column stays, its content does not);
- ``generalize``: numbers go down to their bucket (width 10 unless ``widths`` says otherwise:
  37 → 30), dates and datetimes to the first day of their month, strings keep their first
  half and star the rest (``"10115"`` → ``"101**"``); ``generalizers`` may give a function per
  column instead;
- ``pseudonymize``: the purpose key's token (``v<version>.<22 characters>``), stable within the
  purpose, unrelated across purposes.

A treatment or obligation this client does not know stops the read (ObligationError)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from governance_client.decision import TREATMENTS, Decision
from governance_client.errors import ObligationError
from governance_client.pseudonyms import PurposeKeys

KNOWN_OBLIGATIONS = {"fields", "consent_filter", "pseudonymize", "privacy_budget"}
MASK = "***"


def mask(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return MASK if isinstance(value, str) else None


def generalize(value, width: float = 10):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isnan(value):
        return value
    if isinstance(value, int):
        return int(value // width * width)
    if isinstance(value, float):
        return float(math.floor(value / width) * width)
    if isinstance(value, datetime):
        return value.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if isinstance(value, date):
        return value.replace(day=1)
    if isinstance(value, str):
        keep = (len(value) + 1) // 2
        return value[:keep] + "*" * (len(value) - keep)
    try:  # numpy scalars and other numbers
        number = float(value)
    except (TypeError, ValueError):
        raise ObligationError(f"cannot generalize a {type(value).__name__}") from None
    return math.floor(number / width) * width


def plan(
    decision: Decision,
    columns: list[str],
    *,
    keys: PurposeKeys | None = None,
    generalizers: Mapping[str, Callable[[Any], Any]] | None = None,
    widths: Mapping[str, float] | None = None,
) -> tuple[list[str], dict[str, Callable[[Any], Any]]]:
    """The columns to keep and the function to apply to each (identity omitted)."""
    unknown = set(decision.obligations) - KNOWN_OBLIGATIONS
    if unknown:
        raise ObligationError(f"obligations this client cannot honour: {sorted(unknown)}")
    treatments = decision.treatments
    bad = {name: t for name, t in treatments.items() if t not in TREATMENTS}
    if bad:
        raise ObligationError(f"treatments this client does not know: {bad}")
    if any(t == "pseudonymize" for t in treatments.values()):
        if keys is None:
            raise ObligationError(
                "A field is to be pseudonymized: fetch the purpose's keys "
                "(Client.pseudonym_keys) and pass them."
            )
        if keys.purpose != decision.purpose:
            raise ObligationError(
                f"the keys are for purpose {keys.purpose!r}, the decision for {decision.purpose!r}"
            )
    generalizers = dict(generalizers or {})
    widths = dict(widths or {})
    keep: list[str] = []
    functions: dict[str, Callable[[Any], Any]] = {}
    for column in columns:
        treatment = treatments.get(column)
        if treatment is None or treatment == "drop":
            continue
        keep.append(column)
        if treatment == "mask":
            functions[column] = mask
        elif treatment == "generalize":
            if column in generalizers:
                functions[column] = generalizers[column]
            else:
                width = widths.get(column, 10)
                functions[column] = lambda value, width=width: generalize(value, width)
        elif treatment == "pseudonymize":
            functions[column] = keys.pseudonymize
    return keep, functions


def apply_obligations(
    table,
    decision: Decision,
    *,
    keys: PurposeKeys | None = None,
    generalizers: Mapping[str, Callable[[Any], Any]] | None = None,
    widths: Mapping[str, float] | None = None,
):
    """A new table (same kind as ``table``) with the decision's field obligations applied."""
    if not decision.allowed:
        raise ObligationError("a denied decision has no obligations to apply: nothing is read")
    kind = _kind(table)
    if kind == "pandas":
        keep, functions = plan(
            decision, list(table.columns), keys=keys, generalizers=generalizers, widths=widths
        )
        result = table[keep].copy()
        for column, function in functions.items():
            result[column] = result[column].map(function, na_action="ignore")
            if function is mask:
                result[column] = result[column].where(result[column].notna(), None)
        return result
    if kind == "arrow":
        import pyarrow as pa

        keep, functions = plan(
            decision, list(table.column_names), keys=keys, generalizers=generalizers, widths=widths
        )
        arrays = []
        for column in keep:
            values = table.column(column)
            if column in functions:
                function = functions[column]
                values = pa.array([function(v) for v in values.to_pylist()])
            arrays.append(values)
        return pa.table(dict(zip(keep, arrays, strict=True)))
    rows = list(table)
    columns = list(dict.fromkeys(name for row in rows for name in row))
    keep, functions = plan(decision, columns, keys=keys, generalizers=generalizers, widths=widths)
    return [
        {
            name: (functions[name](row[name]) if name in functions else row[name])
            for name in keep
            if name in row
        }
        for row in rows
    ]


def _kind(table) -> str:
    module = type(table).__module__
    if module.startswith("pandas"):
        return "pandas"
    if module.startswith("pyarrow"):
        return "arrow"
    if isinstance(table, list) and all(isinstance(row, Mapping) for row in table):
        return "rows"
    raise ObligationError(
        "apply_obligations takes a pandas DataFrame, a pyarrow Table or a list of dicts"
    )


def column_values(table, column: str) -> list:
    kind = _kind(table)
    if kind == "pandas":
        return table[column].tolist()
    if kind == "arrow":
        return table.column(column).to_pylist()
    return [row.get(column) for row in table]


def keep_rows(table, column: str, allowed: set[str]):
    """Only the rows whose ``column`` (as text) is in ``allowed``."""
    kind = _kind(table)
    if kind == "pandas":
        return table[table[column].astype(str).isin(allowed)].reset_index(drop=True)
    if kind == "arrow":
        import pyarrow as pa
        import pyarrow.compute as pc

        mask_ = pc.is_in(pc.cast(table.column(column), pa.string()), value_set=pa.array(allowed))
        return table.filter(mask_)
    return [row for row in table if str(row.get(column)) in allowed]
