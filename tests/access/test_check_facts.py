"""The check reads its facts in one statement on PostgreSQL (issue 14). Its rules are SQL forms
of their owners' rules (``policy.GRANTS_USABLE_BY_SQL``, ``PURPOSE_CURRENT_ORDER_SQL``), so
here both reads — the one statement and the ORM with the owners' querysets — must give the
same rows for every principal, dataset and purpose of a world with grants to people, roles
and service accounts, revoked grants, acknowledgements under old and current terms, training,
budget requirements and a draft purpose version."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.models import Purpose
from datasets.models import Dataset
from governance.access import services
from governance.access.services import budget
from governance.access.services.check import _read_in_one_statement, _read_with_orm, _Rows
from governance.accounts.models import User
from governance.accounts.principal import Principal
from tests.access.conftest import request_and_approve
from tests.accounts.factories import make_service_account


def _values(instance) -> dict | None:
    if instance is None:
        return None
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def _comparable(rows: _Rows) -> dict:
    return {
        "dataset": _values(rows.dataset),
        "purpose": _values(rows.purpose),
        "field_rows": [tuple(r) for r in rows.field_rows],
        "grant_rows": rows.grant_rows,
        "acknowledged": rows.acknowledged,
        "approval_found": rows.approval_found,
        "training_expires_at": rows.training_expires_at,
        "requirement": _values(rows.requirement),
        "roles": rows.roles,
    }


def _fresh(user):
    """A new instance: nothing cached (roles) from an earlier read."""
    return None if user is None else User.objects.get(pk=user.pk)


@pytest.fixture
def world(alice, bob, carol, petra, tickets, approved_for_routing, consent_purpose):
    now = timezone.now()
    account, _ = make_service_account(bob, name="facts-training")
    own = request_and_approve(bob, alice, tickets, fields=("ticket_id", "email"))
    services.grant_acknowledge(actor=bob, grant=own.grant)
    request_and_approve(bob, alice, tickets, principal="role:engineer", fields=("email",))
    machine = request_and_approve(
        bob, alice, tickets, principal="service_account:facts-training", fields=("ticket_id",)
    )
    services.grant_acknowledge(actor=bob, grant=machine.grant)
    revoked = request_and_approve(bob, alice, tickets, fields=("ticket_id",))
    services.grant_revoke(actor=alice, grant=revoked.grant, reason="Project ended.")
    services.training_record(
        actor=petra, user=bob, course="Privacy basics", completed_at=now - timedelta(days=1)
    )
    budget.budget_requirement_set(
        actor=alice, dataset=tickets, epsilon="2", purpose_slug="ticket-routing"
    )
    # A draft next version of the purpose: the active one stays current.
    active = Purpose.objects.get(slug="ticket-routing")
    Purpose.objects.filter(pk=active.pk).update(version=1)
    draft = Purpose.objects.get(pk=active.pk)
    draft.pk = None
    draft.version = 2
    draft.status = Purpose.Status.DRAFT
    draft.save()
    return {"account": account, "now": now}


PEOPLE = ("bob", "carol", "alice", "service_account")
DATASETS = ("support-tickets", "no-such-dataset")
PURPOSES = ("ticket-routing", "churn-model", "no-such-purpose")


@pytest.mark.parametrize("restricted", [False, True])
def test_the_one_statement_reads_what_the_owners_querysets_read(
    world, bob, carol, alice, restricted
):
    if restricted:
        Dataset.objects.filter(slug="support-tickets").update(
            sensitivity=Dataset.Sensitivity.RESTRICTED
        )
    principals = {
        "bob": bob,
        "carol": carol,
        "alice": alice,
        "service_account": world["account"].user,
    }
    compared = 0
    for name in PEOPLE:
        principal = principals[name]
        acknowledger = Principal.of(user=principal).accountable
        for dataset_slug in DATASETS:
            for purpose_slug in PURPOSES:
                asked = {
                    "principal": principal,
                    "dataset_slug": dataset_slug,
                    "purpose_slug": purpose_slug,
                    "now": world["now"],
                }
                one = _comparable(
                    _read_in_one_statement(acknowledger=_fresh(acknowledger), **asked)
                )
                orm = _comparable(_read_with_orm(acknowledger=_fresh(acknowledger), **asked))
                assert one == orm, (name, dataset_slug, purpose_slug)
                compared += 1
    assert compared == len(PEOPLE) * len(DATASETS) * len(PURPOSES)


def test_the_world_has_what_the_comparison_needs(world, bob):
    """Guards the test above against comparing empty answers."""
    rows = _read_with_orm(
        principal=bob,
        acknowledger=bob,
        dataset_slug="support-tickets",
        purpose_slug="ticket-routing",
        now=world["now"],
    )
    statuses = {g["status"] for g in rows.grant_rows}
    assert len(rows.grant_rows) >= 3 and "revoked" in statuses and "active" in statuses
    assert rows.acknowledged
    assert rows.approval_found
    assert rows.training_expires_at is not None
    assert rows.requirement is not None and rows.requirement.purpose_slug == "ticket-routing"
    assert rows.purpose.status == Purpose.Status.ACTIVE
    assert rows.field_rows
    assert rows.roles == ["engineer"]


def test_the_facts_in_the_ledger_are_asdict_of_the_facts(world, bob):
    from dataclasses import asdict

    from governance.access.services.check import _facts_for_ledger, gather_facts

    facts, _, _ = gather_facts(
        principal=bob,
        dataset_slug="support-tickets",
        purpose_slug="ticket-routing",
        fields=["email"],
        now=world["now"],
    )
    assert facts.grants and facts.dataset_fields and facts.purpose_categories
    expected = asdict(facts)
    expected["dataset_categories"] = sorted(facts.dataset_categories)
    expected["purpose_categories"] = sorted(facts.purpose_categories)
    assert _facts_for_ledger(facts) == expected
