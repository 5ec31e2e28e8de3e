"""Subject access reads the stores retention governs: it reuses retention's fixtures."""

from tests.retention.conftest import (  # noqa: F401
    churn,
    events_dataset,
    store,
    store_database,
)
