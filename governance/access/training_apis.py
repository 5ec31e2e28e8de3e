"""APIs training jobs call besides the check: the purpose's pseudonymization keys
(/api/v1/access/pseudonym-keys) and the privacy-budget ledger (/api/v1/budget/)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from datasets.selectors import dataset_get_for
from governance.access import policy
from governance.access.models import BudgetClaim, BudgetRequirement
from governance.access.pseudonyms import ALGORITHM, TOKEN_BYTES
from governance.access.services import budget, pseudonym_keys
from governance.accounts.principal import Principal
from governance.api.schema import bounded
from governance.errors import NotFound
from governance.policy import require


class AmountField(serializers.FloatField):
    """A JSON number (or a plain ASCII decimal string), handed to the service as given so it
    is parsed exactly (``budget.parse_epsilon``): a float conversion here would read ``true``
    as 1.0 and ``"\u0661"`` (Arabic-Indic one) as 1."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or (isinstance(data, str) and not data.isascii()):
            self.fail("invalid")
        super().to_internal_value(data)  # finite, a number at all
        return data


# The bounds budget.parse_epsilon/parse_delta and set_requirement enforce, stated in the schema.
EpsilonField = bounded(AmountField, minimum=0.000001, maximum=999999)
DeltaField = bounded(AmountField, minimum=0, maximum=1, exclusiveMaximum=True)
BlockDaysField = bounded(serializers.IntegerField, minimum=1, maximum=budget.MAX_BLOCK_DAYS)
LockSecondsField = bounded(serializers.IntegerField, minimum=10, maximum=budget.MAX_LOCK_SECONDS)

MSG_CLAIM_NOT_FOUND = "There is no budget claim with this id."
MSG_NO_BUDGET = "Dataset {slug} has no privacy budget."


class PseudonymKeysApi(APIView):
    """The purpose's pseudonymization secrets, for a caller the check allows for the dataset
    and purpose: the current version and the previous ones within PSEUDONYM_KEY_GRACE_DAYS.
    A token is ``v<version>.`` + base64url(HMAC-SHA256(secret, "pseudonym:" + value)[:16])."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "PseudonymKeysInput"

        dataset = serializers.CharField(max_length=100)
        purpose = serializers.CharField(max_length=64)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "PseudonymKeys"

        class KeySerializer(serializers.Serializer):
            class Meta:
                ref_name = "PseudonymKey"

            version = serializers.IntegerField()
            secret = serializers.CharField(help_text="32 bytes, base64url without padding")
            created_at = serializers.DateTimeField()
            current = serializers.BooleanField()
            usable_until = serializers.DateTimeField(allow_null=True)

        purpose = serializers.CharField()
        dataset = serializers.CharField()
        algorithm = serializers.CharField()
        token_bytes = serializers.IntegerField()
        keys = KeySerializer(many=True)

    @extend_schema(
        operation_id="access_pseudonym_keys",
        request=InputSerializer,
        responses={200: OutputSerializer},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = pseudonym_keys.pseudonym_keys_issue(
            actor=request.user,
            dataset_slug=data.validated_data["dataset"],
            purpose_slug=data.validated_data["purpose"],
        )
        body = {
            "purpose": issued.purpose,
            "dataset": issued.dataset,
            "algorithm": ALGORITHM,
            "token_bytes": TOKEN_BYTES,
            "keys": [key.as_json() for key in issued.keys],
        }
        response = Response(self.OutputSerializer(body).data)
        response["Cache-Control"] = "no-store"
        return response


class ClaimOutput(serializers.Serializer):
    class Meta:
        ref_name = "BudgetClaim"

    id = serializers.UUIDField()
    dataset = serializers.CharField(source="dataset.slug")
    purpose = serializers.CharField(source="purpose_slug")
    principal = serializers.SerializerMethodField()
    requirement = serializers.IntegerField(source="requirement_id")
    epsilon = serializers.FloatField()
    delta = serializers.FloatField()
    blocks = serializers.ListField(child=serializers.IntegerField())
    status = serializers.SerializerMethodField(
        help_text="locked, committed, released or expired (a lock past lock_expires_at reads "
        "expired at once)"
    )
    decision_id = serializers.CharField()
    note = serializers.CharField()
    created_at = serializers.DateTimeField()
    lock_expires_at = serializers.DateTimeField()
    committed_at = serializers.DateTimeField(allow_null=True)
    released_at = serializers.DateTimeField(allow_null=True)

    def get_principal(self, obj) -> str:
        return Principal.of(user=obj.principal).label

    def get_status(self, obj) -> str:
        return budget.claim_status(obj)


class BlockOutput(serializers.Serializer):
    class Meta:
        ref_name = "BudgetBlock"

    index = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(allow_null=True)
    epsilon_spent = serializers.FloatField()
    delta_spent = serializers.FloatField()
    epsilon_remaining = serializers.FloatField()
    delta_remaining = serializers.FloatField()


class RequirementOutput(serializers.Serializer):
    class Meta:
        ref_name = "BudgetRequirement"

    id = serializers.IntegerField()
    dataset = serializers.CharField(source="dataset.slug")
    purpose = serializers.CharField(source="purpose_slug")
    epsilon = serializers.FloatField()
    delta = serializers.FloatField()
    composition = serializers.SerializerMethodField()
    block_days = serializers.IntegerField(allow_null=True)
    starts_at = serializers.DateTimeField()
    lock_seconds = serializers.IntegerField()
    note = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()

    def get_composition(self, obj) -> str:
        return "basic"


def _claim(request: Request, pk) -> BudgetClaim:
    claim = BudgetClaim.objects.select_related("dataset", "principal").filter(pk=pk).first()
    if claim is None:
        raise NotFound(MSG_CLAIM_NOT_FOUND)
    return claim


class BudgetClaimCreateApi(APIView):
    """Acquire a claim on a dataset's privacy budget: 201 with the locked claim, or 409
    ``budget_exceeded`` with what is left per block. Settle it with commit or release before
    ``lock_expires_at``, or it goes back to the budget."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "BudgetClaimInput"

        dataset = serializers.CharField(max_length=100)
        purpose = serializers.CharField(max_length=64)
        epsilon = EpsilonField()
        delta = DeltaField(required=False, default=0.0)
        blocks = serializers.ListField(
            child=serializers.IntegerField(min_value=0),
            required=False,
            allow_empty=False,
            min_length=1,
        )
        decision_id = serializers.CharField(
            max_length=64, required=False, allow_blank=True, default=""
        )
        note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="budget_claims_create",
        request=InputSerializer,
        responses={201: ClaimOutput},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        claim = budget.budget_claim_acquire(
            actor=request.user,
            dataset_slug=values["dataset"],
            purpose_slug=values["purpose"],
            epsilon=values["epsilon"],
            delta=values["delta"],
            blocks=values.get("blocks"),
            decision_id=values["decision_id"],
            note=values["note"],
        )
        return Response(ClaimOutput(claim).data, status=201)


class BudgetClaimDetailApi(APIView):
    @extend_schema(operation_id="budget_claims_detail", responses=ClaimOutput)
    def get(self, request: Request, pk) -> Response:
        claim = _claim(request, pk)
        require(policy.may_read_claim(request.user, claim))
        return Response(ClaimOutput(claim).data)


class BudgetClaimCommitApi(APIView):
    @extend_schema(operation_id="budget_claims_commit", request=None, responses=ClaimOutput)
    def post(self, request: Request, pk) -> Response:
        claim = budget.budget_claim_commit(actor=request.user, claim=_claim(request, pk))
        return Response(ClaimOutput(claim).data)


class BudgetClaimReleaseApi(APIView):
    @extend_schema(operation_id="budget_claims_release", request=None, responses=ClaimOutput)
    def post(self, request: Request, pk) -> Response:
        claim = budget.budget_claim_release(actor=request.user, claim=_claim(request, pk))
        return Response(ClaimOutput(claim).data)


class BudgetDatasetApi(APIView):
    """A dataset's privacy budget: the requirement, every started block with what is spent and
    left, and the claims (newest first)."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DatasetBudget"

        requirement = RequirementOutput()
        blocks = BlockOutput(many=True)
        claims = ClaimOutput(many=True)

    @extend_schema(operation_id="budget_datasets_detail", responses=OutputSerializer)
    def get(self, request: Request, slug: str) -> Response:
        dataset = dataset_get_for(viewer=request.user, slug=slug)
        require(policy.may_view_budget(request.user, dataset))
        requirement = BudgetRequirement.objects.filter(dataset=dataset, retired_at=None).first()
        if requirement is None:
            raise NotFound(MSG_NO_BUDGET.format(slug=slug))
        claims = requirement.claims.select_related("dataset", "principal")[:500]
        body = {
            "requirement": requirement,
            "blocks": [b.as_json() for b in budget.budget_blocks(requirement)],
            "claims": claims,
        }
        return Response(self.OutputSerializer(body).data)


class BudgetRequirementSetApi(APIView):
    """Require differential privacy of a dataset (or a dataset for one purpose)."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "BudgetRequirementInput"

        dataset = serializers.CharField(max_length=100)
        purpose = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
        epsilon = EpsilonField()
        delta = DeltaField(required=False, default=0.0)
        block_days = BlockDaysField(required=False, allow_null=True, default=None)
        lock_seconds = LockSecondsField(required=False, allow_null=True, default=None)
        starts_at = serializers.DateTimeField(
            required=False,
            allow_null=True,
            default=None,
            help_text="When the first data block begins (event time of the data); default now.",
        )
        note = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="budget_requirements_set",
        request=InputSerializer,
        responses={201: RequirementOutput},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        dataset = dataset_get_for(viewer=request.user, slug=values["dataset"])
        requirement = budget.budget_requirement_set(
            actor=request.user,
            dataset=dataset,
            purpose_slug=values["purpose"],
            epsilon=values["epsilon"],
            delta=values["delta"],
            block_days=values["block_days"],
            lock_seconds=values["lock_seconds"],
            note=values["note"],
            starts_at=values["starts_at"],
        )
        return Response(RequirementOutput(requirement).data, status=201)
