from __future__ import annotations

import pytest

from governance.access import services as access
from governance.compliance import services
from tests.access.conftest import (  # noqa: F401 — fixtures shared with the access tests
    approved_for_routing,
    request_and_approve,
    router_purpose,
    tickets,
)
from tests.retention.conftest import (  # noqa: F401 — fixtures of the stores retention governs
    churn,
    events_dataset,
    store,
    store_database,
)

CONTROLLER = "Example Retail GmbH"
DPO = "dpo@example.org"


@pytest.fixture(autouse=True)
def _export_settings(settings, tmp_path):
    settings.COMPLIANCE_EXPORT_DIR = tmp_path / "exports"
    settings.AUDIT_CHECKPOINT_KEY_FILE = tmp_path / "keys" / "audit-checkpoint.jwks.json"
    settings.ACCESS_LEASE_KEY_FILE = tmp_path / "keys" / "lease.jwks.json"
    settings.GOVERNANCE_CONTROLLER = CONTROLLER
    settings.GOVERNANCE_DPO_CONTACT = DPO


@pytest.fixture
def granted(bob, alice, tickets, approved_for_routing):  # noqa: F811
    """bob holds an acknowledged grant on support-tickets for ticket-routing."""
    request = request_and_approve(bob, alice, tickets, fields=("ticket_id", "email"))
    access.grant_acknowledge(actor=bob, grant=request.grant)
    return request.grant


def run(actor, kind, **params):
    """Request an export and build it here (the worker path has its own test)."""
    export = services.export_request(actor=actor, kind=kind, **params)
    export = services.export_run(export_id=export.pk)
    assert export.status == "succeeded", export.error
    return export
