"""The registers refer to purposes and datasets: they reuse the access app's fixtures."""

from tests.access.conftest import (  # noqa: F401
    _lease_keys,
    approved_for_routing,
    carol,
    router_purpose,
    tickets,
)
