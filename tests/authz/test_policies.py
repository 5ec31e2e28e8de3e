"""Every rule that answers both "this object?" and "which ones?" gives the same answer both ways,
for every persona and every object of the matrix's world — so a list (an inbox, a catalog, a
count on the dashboard) never shows something the action refuses, nor hides something it
allows."""

from __future__ import annotations

import pytest

from consent import policy as consent_policy
from consent.models import Purpose
from datasets import policy as catalog_policy
from datasets.models import Dataset
from governance.access import policy as access_policy
from governance.access.models import AccessRequest
from governance.accounts.models import User
from governance.compliance import policy as compliance_policy
from governance.compliance.models import Export
from governance.retention import policy as retention_policy
from tests.authz.world import build

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tmp_path, settings):
    return build(tmp_path, settings)


def _everyone() -> list[User]:
    return list(User.objects.order_by("username"))


def _agree(model, objects, allows, listed):
    """For each user: the objects ``allows(user, obj)`` permits == those ``listed(user)``
    selects. Returns the disagreements."""
    problems = []
    for user in _everyone():
        by_rule = {obj.pk for obj in objects if allows(user, obj)}
        by_list = set(
            model.objects.filter(listed(user), pk__in=[o.pk for o in objects]).values_list(
                "pk", flat=True
            )
        )
        if by_rule != by_list:
            problems.append((user.username, sorted(by_rule), sorted(by_list)))
    return problems


def test_seeing_a_dataset(world):
    datasets = list(Dataset.objects.all())
    assert not _agree(
        Dataset,
        datasets,
        lambda u, d: catalog_policy.may_view(u, d) is None,
        catalog_policy.visible_to,
    )


def test_managing_a_dataset(world):
    datasets = list(Dataset.objects.all())
    assert not _agree(
        Dataset,
        datasets,
        lambda u, d: catalog_policy.may_manage(u, d) is None,
        catalog_policy.managed_by,
    )


def test_stewarding_a_dataset(world):
    datasets = list(Dataset.objects.all())
    assert not _agree(Dataset, datasets, catalog_policy.is_steward_of, catalog_policy.stewarded_by)


def test_approving_a_dataset(world):
    datasets = list(Dataset.objects.all())
    assert not _agree(
        Dataset,
        datasets,
        lambda u, d: d.status == "in_review" and catalog_policy.may_approve(u, d) is None,
        catalog_policy.awaiting_approval_by,
    )


def test_activating_a_purpose(world):
    purposes = list(Purpose.objects.all())
    assert not _agree(
        Purpose,
        purposes,
        lambda u, p: p.status == "submitted" and consent_policy.may_activate(u, p) is None,
        consent_policy.activatable_by,
    )


def test_approving_an_access_request(world):
    requests = list(AccessRequest.objects.all())
    assert not _agree(
        AccessRequest,
        requests,
        lambda u, r: access_policy.may_approve(u, r) is None,
        access_policy.approvable_by,
    )


def test_seeing_retention(world):
    datasets = list(Dataset.objects.all())
    assert not _agree(
        Dataset,
        datasets,
        lambda u, d: retention_policy.may_view(u, d) is None,
        retention_policy.visible_to,
    )


def test_seeing_an_export(world):
    exports = list(Export.objects.all())
    assert not _agree(
        Export,
        exports,
        lambda u, e: compliance_policy.may_see(u, e) is None,
        compliance_policy.exports_visible_to,
    )


@pytest.mark.parametrize("kind", ["recipients", "transfers", "dpias", "lias", "breaches"])
def test_reading_a_register_entry(world, kind):
    from governance.registers import policy as registers_policy
    from governance.registers.kinds import KINDS

    model = KINDS[kind].model
    entries = list(model.objects.all())
    assert entries
    assert not _agree(
        model,
        entries,
        lambda u, e: registers_policy.may_see(u, kind, e) is None,
        lambda u: registers_policy.visible_to(u, kind),
    )


def test_seeing_a_subject_access_request(world):
    from governance.subject_access import policy as subject_access_policy
    from governance.subject_access.models import SubjectAccessRequest

    requests = list(SubjectAccessRequest.objects.all())
    assert not _agree(
        SubjectAccessRequest,
        requests,
        lambda u, r: subject_access_policy.may_read(u) is None,
        subject_access_policy.visible_to,
    )
