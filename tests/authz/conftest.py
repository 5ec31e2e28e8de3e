"""The abuse and matrix tests cross every app: they reuse the apps' fixtures."""

from tests.access.conftest import (  # noqa: F401
    _lease_keys,
    approved_for_routing,
    router_purpose,
    tickets,
)
from tests.retention.conftest import (  # noqa: F401
    churn,
    events_dataset,
    store,
    store_database,
)
