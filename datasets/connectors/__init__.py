"""Retention connectors: how to reach the store a dataset lives in, count and delete.

``connector_for`` picks the class for a dataset's storage kind from ``CONNECTORS``. To add a
store (S3, a warehouse), subclass ``datasets.connectors.base.Connector``, add a storage kind
to ``Dataset.StorageKind`` and an entry here (see docs/retention.md, "Writing a connector").
"""

from __future__ import annotations

from django.utils.module_loading import import_string

from datasets.connectors.base import (
    ANONYMIZE,
    DELETE,
    OPERATIONS,
    Batch,
    Connector,
    ConnectorError,
    Criteria,
    Layout,
    Preview,
)

__all__ = [
    "ANONYMIZE",
    "CONNECTORS",
    "DELETE",
    "OPERATIONS",
    "Batch",
    "Connector",
    "ConnectorError",
    "Criteria",
    "Layout",
    "Preview",
    "connector_for",
]

CONNECTORS: dict[str, str] = {
    "postgres_table": "datasets.connectors.postgres.PostgresTableConnector",
    "csv": "datasets.connectors.files.FileConnector",
    "jsonl": "datasets.connectors.files.FileConnector",
    "parquet": "datasets.connectors.files.FileConnector",
}

MSG_NO_CONNECTOR = (
    "No retention connector for storage kind {kind!r}: retention can be enforced on "
    "PostgreSQL tables and CSV, JSON Lines or Parquet files."
)


def connector_for(
    *, storage_kind: str, location: str, layout: Layout, options: dict | None = None
) -> Connector:
    """The connector for a store; raises ConnectorError("unsupported") for other kinds."""
    path = CONNECTORS.get(storage_kind)
    if path is None:
        raise ConnectorError("unsupported", MSG_NO_CONNECTOR.format(kind=storage_kind))
    options = {"format": storage_kind, **(options or {})}
    return import_string(path)(location=location, layout=layout, options=options)
