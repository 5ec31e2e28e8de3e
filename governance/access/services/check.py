"""The check: may this caller read dataset D for purpose P now, which fields, under which
obligations? Facts are gathered with a fixed number of queries, the decision is the pure
function in governance/access/decision.py, and every answer — allow and deny — is written to
the ledger with the facts that decided it, in the same transaction. Any failure while
gathering facts, deciding, signing or recording is a 503, never an allow."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from consent.models import Purpose
from consent.policy import PURPOSE_CURRENT_ORDER_SQL, purpose_current
from datasets.models import DataCategory, Dataset, Field
from governance.access import decision as rules
from governance.access import obligations, policy
from governance.access.models import (
    Acknowledgement,
    BudgetRequirement,
    Grant,
    PurposeApproval,
    TrainingAttestation,
)
from governance.access.services.common import terms_for, terms_version
from governance.accounts.models import User
from governance.accounts.policy import MSG_OWNER_INACTIVE, may_use_data, principal_usable
from governance.accounts.principal import Principal
from governance.accounts.roles import Role
from governance.audit import services as audit
from governance.deadline import statement_timeouts
from governance.errors import Unavailable

logger = logging.getLogger(__name__)

MSG_UNAVAILABLE = (
    "The access check could not be completed; access is denied until it can. Retry later."
)


@dataclass(frozen=True)
class CheckResult:
    decision_id: str
    decision: rules.Decision
    dataset: str
    purpose: str
    principal: str
    consent_based: bool
    lease: str | None


@dataclass(frozen=True)
class _Rows:
    """What the facts are built from, read in one statement or through the ORM."""

    dataset: Dataset | None
    purpose: Purpose | None
    field_rows: list[tuple]  # (name, treatment, category key, special category), in order
    grant_rows: list[dict]  # grants on the dataset usable by the principal, newest first
    acknowledged: set[int]  # of the relevant grants, under the current terms
    approval_found: bool
    training_expires_at: datetime | None
    requirement: BudgetRequirement | None
    roles: list[str] | None = None  # of the accountable person (None: nobody is)


def gather_facts(
    *,
    principal: User,
    dataset_slug: str,
    purpose_slug: str,
    fields: list[str] | None,
    now: datetime,
) -> tuple[rules.Facts, Dataset | None, Purpose | None]:
    facts, dataset, purpose, _requirement = _gather(
        principal=principal,
        dataset_slug=dataset_slug,
        purpose_slug=purpose_slug,
        fields=fields,
        now=now,
    )
    return facts, dataset, purpose


def _gather(
    *,
    principal: User,
    dataset_slug: str,
    purpose_slug: str,
    fields: list[str] | None,
    now: datetime,
    read=None,
) -> tuple[rules.Facts, Dataset | None, Purpose | None, BudgetRequirement | None]:
    if read is None:
        read = _read_in_one_statement if connection.vendor == "postgresql" else _read_with_orm
    acknowledger = Principal.of(user=principal).accountable
    rows = read(
        principal=principal,
        acknowledger=acknowledger,
        dataset_slug=dataset_slug,
        purpose_slug=purpose_slug,
        now=now,
    )
    return _facts(principal, rows, purpose_slug=purpose_slug, fields=fields, now=now)


def _facts(
    principal: User, rows: _Rows, *, purpose_slug: str, fields: list[str] | None, now: datetime
) -> tuple[rules.Facts, Dataset | None, Purpose | None, BudgetRequirement | None]:
    dataset, purpose = rows.dataset, rows.purpose
    refusal = principal_usable(principal)
    principal_active = refusal is None or refusal.message == MSG_OWNER_INACTIVE
    owner_active = refusal is None or refusal.message != MSG_OWNER_INACTIVE
    has_role = principal.is_service_account or may_use_data(principal) is None
    if dataset is None:
        return (
            rules.Facts(
                now=now,
                principal_active=principal_active,
                owner_active=owner_active,
                principal_has_role=has_role,
                dataset_found=False,
                purpose_found=purpose is not None,
            ),
            None,
            purpose,
            None,
        )
    field_rows, grant_rows = rows.field_rows, rows.grant_rows
    relevant = [g for g in grant_rows if g["purpose_slug"] == purpose_slug]
    restricted = dataset.sensitivity == Dataset.Sensitivity.RESTRICTED
    facts = rules.Facts(
        now=now,
        principal_active=principal_active,
        owner_active=owner_active,
        principal_has_role=has_role,
        dataset_found=True,
        dataset_status=dataset.status,
        dataset_sensitivity=dataset.sensitivity,
        dataset_fields={name: treatment for name, treatment, _, _ in field_rows},
        dataset_categories=frozenset(key for _, _, key, _ in field_rows if key),
        dataset_has_special=any(special for _, _, _, special in field_rows),
        purpose_found=purpose is not None,
        purpose_status=purpose.status if purpose else None,
        purpose_categories=frozenset(purpose.data_categories or []) if purpose else frozenset(),
        purpose_has_art9_condition=bool(purpose and purpose.special_category_condition),
        purpose_consent_based=bool(purpose and purpose.is_consent_based),
        dataset_subject_id_field=dataset.subject_id_field,
        dataset_subject_namespace=dataset.subject_namespace,
        approval_found=purpose is not None and rows.approval_found,
        grants=tuple(
            rules.GrantFact(
                id=g["id"],
                status=g["status"],
                starts_at=g["starts_at"],
                expires_at=g["expires_at"],
                fields=tuple(g["fields"]),
                acknowledged=purpose is not None and g["id"] in rows.acknowledged,
            )
            for g in relevant
        ),
        any_grant_on_dataset=bool(grant_rows),
        requested_fields=tuple(fields) if fields is not None else None,
        training_required=restricted,
        training_expires_at=rows.training_expires_at if restricted and relevant else None,
    )
    return facts, dataset, purpose, rows.requirement


def _read_with_orm(
    *, principal: User, acknowledger, dataset_slug: str, purpose_slug: str, now: datetime
) -> _Rows:
    """The rows through the ORM and the rules' own querysets (SQLite, and the reference the
    one-statement read is tested against)."""
    dataset = Dataset.objects.filter(slug=dataset_slug).first()
    purpose = purpose_current(purpose_slug)
    roles = acknowledger.roles if acknowledger is not None else None
    if dataset is None:
        return _Rows(dataset, purpose, [], [], set(), False, None, None, roles)
    field_rows = list(
        Field.objects.filter(dataset=dataset).values_list(
            "name", "treatment", "category__key", "special_category"
        )
    )
    grant_rows = list(
        Grant.objects.filter(dataset=dataset)
        .filter(policy.grants_usable_by(principal))
        .values("id", "purpose_slug", "status", "starts_at", "expires_at", "fields")
    )
    relevant = [g["id"] for g in grant_rows if g["purpose_slug"] == purpose_slug]
    acknowledged: set[int] = set()
    if relevant and purpose is not None:
        acknowledged = set(
            Acknowledgement.objects.filter(
                grant_id__in=relevant,
                user=acknowledger,
                terms_version=terms_version(purpose),
                terms_sha256=terms_for(purpose, dataset)[2],
            ).values_list("grant_id", flat=True)
        )
    approval_found = PurposeApproval.objects.filter(
        dataset=dataset, purpose_slug=purpose_slug, revoked_at=None
    ).exists()
    training_expires_at = (
        TrainingAttestation.objects.filter(
            user=acknowledger, completed_at__lte=now, expires_at__gt=now
        )
        .order_by("-expires_at")
        .values_list("expires_at", flat=True)
        .first()
    )
    return _Rows(
        dataset,
        purpose,
        field_rows,
        grant_rows,
        acknowledged,
        approval_found,
        training_expires_at,
        obligations.live_requirement(dataset=dataset, purpose_slug=purpose_slug),
        roles,
    )


def _columns(model, alias: str) -> str:
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


_CONVERTERS: dict = {}


def _converters(model) -> list[tuple[int, list, object]]:
    """(position, converters, column) of the model's columns that the ORM converts on load."""
    key = (model, connection.vendor)
    if key not in _CONVERTERS:
        found = []
        for position, field in enumerate(model._meta.concrete_fields):
            column = field.get_col(model._meta.db_table)
            functions = connection.ops.get_db_converters(column) + field.get_db_converters(
                connection
            )
            if functions:
                found.append((position, functions, column))
        _CONVERTERS[key] = found
    return _CONVERTERS[key]


def _instance(model, values):
    """A model instance from the row's own columns, converted as the ORM converts them (JSON
    columns decoded, for one)."""
    if values is None:
        return None
    values = list(values)
    for position, functions, column in _converters(model):
        for convert in functions:
            values[position] = convert(values[position], column, connection)
    return model.from_db(connection.alias, None, values)


def _split(row, start: int, model):
    width = len(model._meta.concrete_fields)
    values = row[start : start + width]
    return (None if values[0] is None else values), start + width


_ONE_STATEMENT: str | None = None


def _one_statement() -> str:
    """Every row the check reads, in one statement (PostgreSQL): one round trip and no query
    compilation per check. The rules it applies are their owners' SQL forms
    (``policy.GRANTS_USABLE_BY_SQL``, ``PURPOSE_CURRENT_ORDER_SQL``); the rest are plain
    lookups by key, as ``_read_with_orm`` makes them."""
    global _ONE_STATEMENT
    if _ONE_STATEMENT is None:
        t = {
            m.__name__: m._meta.db_table
            for m in (
                Dataset,
                Purpose,
                Field,
                DataCategory,
                Grant,
                Acknowledgement,
                PurposeApproval,
                TrainingAttestation,
                BudgetRequirement,
            )
        }
        # Table and column names come from the models; every value is a parameter.
        _ONE_STATEMENT = f"""
WITH d AS (SELECT * FROM {t["Dataset"]} WHERE slug = %(dataset)s),
p AS (SELECT * FROM {t["Purpose"]} WHERE slug = %(purpose)s
      ORDER BY {PURPOSE_CURRENT_ORDER_SQL} LIMIT 1),
g AS (SELECT id, purpose_slug, status, starts_at, expires_at, fields, created_at
      FROM {t["Grant"]} WHERE dataset_id = (SELECT id FROM d) AND {policy.GRANTS_USABLE_BY_SQL}),
r AS (SELECT * FROM {t["BudgetRequirement"]}
      WHERE dataset_id = (SELECT id FROM d) AND retired_at IS NULL
        AND (purpose_slug = '' OR purpose_slug = %(purpose)s)
      ORDER BY purpose_slug, created_at DESC LIMIT 1)
SELECT {_columns(Dataset, "d")}, {_columns(Purpose, "p")}, {_columns(BudgetRequirement, "r")},
  (SELECT array_agg(jsonb_build_array(f.name, f.treatment, c.key, f.special_category)::text
                    ORDER BY f.position, f.name)
   FROM {t["Field"]} f LEFT JOIN {t["DataCategory"]} c ON c.id = f.category_id
   WHERE f.dataset_id = d.id),
  (SELECT array_agg(g.id ORDER BY g.created_at DESC, g.id DESC) FROM g),
  (SELECT array_agg(g.purpose_slug ORDER BY g.created_at DESC, g.id DESC) FROM g),
  (SELECT array_agg(g.status ORDER BY g.created_at DESC, g.id DESC) FROM g),
  (SELECT array_agg(g.starts_at ORDER BY g.created_at DESC, g.id DESC) FROM g),
  (SELECT array_agg(g.expires_at ORDER BY g.created_at DESC, g.id DESC) FROM g),
  (SELECT array_agg(g.fields::text ORDER BY g.created_at DESC, g.id DESC) FROM g),
  (SELECT array_agg(jsonb_build_array(a.grant_id, a.terms_version, a.terms_sha256)::text)
   FROM {t["Acknowledgement"]} a
   WHERE a.user_id = %(acknowledger)s
     AND a.grant_id IN (SELECT id FROM g WHERE purpose_slug = %(purpose)s)),
  EXISTS (SELECT 1 FROM {t["PurposeApproval"]} pa WHERE pa.dataset_id = d.id
          AND pa.purpose_slug = %(purpose)s AND pa.revoked_at IS NULL),
  (SELECT max(ta.expires_at) FROM {t["TrainingAttestation"]} ta
   WHERE ta.user_id = %(acknowledger)s AND ta.completed_at <= %(now)s
     AND ta.expires_at > %(now)s),
  (SELECT array_agg(ag.name ORDER BY ag.name) FROM accounts_user_groups ug
   JOIN auth_group ag ON ag.id = ug.group_id
   WHERE ug.user_id = %(acknowledger)s AND ag.name = ANY(%(roles)s))
FROM (SELECT 1) AS one LEFT JOIN d ON true LEFT JOIN p ON true LEFT JOIN r ON true"""  # noqa: S608
    return _ONE_STATEMENT


def _read_in_one_statement(
    *, principal: User, acknowledger, dataset_slug: str, purpose_slug: str, now: datetime
) -> _Rows:
    # The terms' digest names the dataset and the purpose version: it is computed from the
    # rows this statement reads, so the acknowledgements are read for every version and
    # digest of the terms and narrowed below.
    params = {
        "dataset": dataset_slug,
        "purpose": purpose_slug,
        "active": Purpose.Status.ACTIVE,
        "user": principal.pk,
        "roles": list(Role.values),
        "acknowledger": acknowledger.pk if acknowledger is not None else None,
        "now": now,
    }
    with connection.cursor() as cursor:
        cursor.execute(_one_statement(), params)
        row = cursor.fetchone()
    dataset_values, at = _split(row, 0, Dataset)
    purpose_values, at = _split(row, at, Purpose)
    requirement_values, at = _split(row, at, BudgetRequirement)
    dataset = _instance(Dataset, dataset_values)
    purpose = _instance(Purpose, purpose_values)
    requirement = _instance(BudgetRequirement, requirement_values)
    (fields, ids, slugs, statuses, starts, ends, grant_fields, acks, approval, training, roles) = (
        row[at:]
    )
    if acknowledger is not None:
        # The accountable person's roles decide whether the principal may act
        # (``principal_usable``): read here, so that rule asks no query of its own.
        acknowledger.remember_roles(roles or ())
        roles = acknowledger.roles
    else:
        roles = None
    if dataset is None:
        return _Rows(None, purpose, [], [], set(), False, None, None, roles)
    grant_rows = [
        {
            "id": ids[i],
            "purpose_slug": slugs[i],
            "status": statuses[i],
            "starts_at": starts[i],
            "expires_at": ends[i],
            "fields": json.loads(grant_fields[i]),
        }
        for i in range(len(ids or ()))
    ]
    acknowledged: set[int] = set()
    if acks and purpose is not None:
        version, _, digest = terms_for(purpose, dataset)
        for grant_id, terms_version_, terms_sha256 in map(json.loads, acks):
            if terms_version_ == version and terms_sha256 == digest:
                acknowledged.add(grant_id)
    return _Rows(
        dataset,
        purpose,
        [tuple(json.loads(f)) for f in fields or ()],
        grant_rows,
        acknowledged,
        bool(approval),
        training,
        requirement,
        roles,
    )


_FACT_NAMES = tuple(f.name for f in dataclass_fields(rules.Facts))
_GRANT_NAMES = tuple(f.name for f in dataclass_fields(rules.GrantFact))


def _facts_for_ledger(facts: rules.Facts) -> dict:
    """``asdict(facts)`` without its deep copies (the facts are frozen and only encoded)."""
    data = {name: getattr(facts, name) for name in _FACT_NAMES}
    data["dataset_fields"] = dict(facts.dataset_fields)
    data["grants"] = tuple(
        {name: getattr(grant, name) for name in _GRANT_NAMES} for grant in facts.grants
    )
    data["dataset_categories"] = sorted(facts.dataset_categories)
    data["purpose_categories"] = sorted(facts.purpose_categories)
    return data


def check_access(
    *,
    principal: User,
    dataset_slug: str,
    purpose_slug: str,
    fields: list[str] | None = None,
    at: datetime | None = None,
) -> CheckResult:
    now = at or timezone.now()
    decision_id = uuid.uuid4().hex
    label = Principal.of(user=principal).label
    try:
        with transaction.atomic():
            statement_timeouts()
            facts, dataset, purpose, requirement = _gather(
                principal=principal,
                dataset_slug=dataset_slug,
                purpose_slug=purpose_slug,
                fields=fields,
                now=now,
            )
            decision = rules.decide(facts)
            consent_based = facts.purpose_consent_based
            named = {}
            if decision.allow:
                decision, named = obligations.complete(
                    decision,
                    dataset=dataset,
                    purpose=purpose,
                    purpose_slug=purpose_slug,
                    requirement=requirement,
                )
            lease = None
            if decision.allow and int(decision.expires_at.timestamp()) <= int(now.timestamp()):
                # The grant ends within this second: a lease (whole seconds) could not outlive
                # the check, so the answer is the one a moment later would give.
                decision = rules.Decision(allow=False, reasons=(rules._reason("grant_expired"),))
            if decision.allow:
                from governance.access.leases import lease_issue

                lease = lease_issue(
                    decision_id=decision_id,
                    principal={"id": label, "username": principal.username},
                    dataset=dataset_slug,
                    purpose=purpose_slug,
                    fields=list(decision.fields),
                    obligations=decision.obligations,
                    expires_at=decision.expires_at,
                    issued_at=now,
                    audience=obligations.audience_of(dataset),
                )
            audit.record(
                action="access.check",
                target=dataset,
                actor=principal,
                object_repr=f"{dataset_slug} for {purpose_slug}",
                data={
                    "decision_id": decision_id,
                    "decision": decision.decision,
                    "dataset": dataset_slug,
                    "purpose": purpose_slug,
                    "principal": label,
                    "reasons": [r["code"] for r in decision.reasons],
                    "grant": decision.grant_id,
                    "fields": list(decision.fields),
                    "expires_at": decision.expires_at,
                    "facts": _facts_for_ledger(facts),
                    **named,
                },
            )
    except Exception:
        logger.exception("access check failed (decision %s)", decision_id)
        raise Unavailable(MSG_UNAVAILABLE, {"decision_id": decision_id}) from None
    return CheckResult(
        decision_id=decision_id,
        decision=decision,
        dataset=dataset_slug,
        purpose=purpose_slug,
        principal=label,
        consent_based=consent_based,
        lease=lease,
    )


def access_decide(
    *, principal: User, dataset_slug: str, purpose_slug: str, at: datetime | None = None
) -> tuple[rules.Decision, Dataset | None]:
    """The decision the check would give now, without a lease and without a ledger entry of
    its own: for services that act only on an allow (pseudonymization keys, budget claims)
    and record one event with the decision in it."""
    facts, dataset, _purpose = gather_facts(
        principal=principal,
        dataset_slug=dataset_slug,
        purpose_slug=purpose_slug,
        fields=None,
        now=at or timezone.now(),
    )
    return rules.decide(facts), dataset
