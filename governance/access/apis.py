"""REST API under /api/v1/access/: the check training jobs call, and the request/grant flow."""

from __future__ import annotations

from datetime import UTC

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from datasets.selectors import dataset_get_for
from governance.access import policy, selectors, services
from governance.access.models import AccessRequest, Grant
from governance.access.services.common import terms_purpose, terms_version
from governance.accounts.models import User
from governance.accounts.principal import MSG_LABEL, Principal
from governance.api.pagination import PAGE_PARAMETERS, page_of, paginated
from governance.errors import ApplicationError, NotFound, NotPermitted

MSG_OTHER_PRINCIPAL = "You can only check your own access."


def _iso(moment) -> str | None:
    """A datetime as DRF's DateTimeField writes it (ISO 8601 in UTC, "Z" for +00:00)."""
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


MSG_UNKNOWN_PERSON = "No active person named {username!r}."


class CheckApi(APIView):
    """May the caller read this dataset for this purpose now? Always 200 with allow or deny
    (400 for a malformed request, 503 when the answer cannot be given: never an allow).

    Any authenticated caller may ask: a service account whose owner left gets ``deny`` with
    ``owner_inactive`` (recorded), not a bare 403."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AccessCheckInput"

        dataset = serializers.CharField(max_length=100)
        purpose = serializers.CharField(max_length=64)
        fields = serializers.ListField(
            child=serializers.CharField(max_length=200),
            required=False,
            allow_empty=False,
            min_length=1,
            max_length=2000,
        )
        principal = serializers.CharField(required=False, max_length=200)

    class ReasonSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AccessReason"

        code = serializers.CharField()
        message = serializers.CharField()
        detail = serializers.DictField(required=False)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AccessDecision"

        decision = serializers.ChoiceField(choices=["allow", "deny"])
        decision_id = serializers.CharField()
        reasons = serializers.ListField(child=serializers.DictField())
        principal = serializers.CharField()
        dataset = serializers.CharField()
        purpose = serializers.CharField()
        grant = serializers.IntegerField(allow_null=True)
        fields = serializers.ListField(child=serializers.CharField())
        expires_at = serializers.DateTimeField(allow_null=True)
        obligations = serializers.DictField()
        lease = serializers.CharField(allow_null=True)

    @extend_schema(operation_id="access_check", request=InputSerializer, responses=OutputSerializer)
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        principal = values.get("principal")
        caller = Principal.of(user=request.user)
        if principal and principal not in {request.user.username, caller.label}:
            raise NotPermitted(MSG_OTHER_PRINCIPAL)
        result = services.check_access(
            principal=request.user,
            dataset_slug=values["dataset"],
            purpose_slug=values["purpose"],
            fields=values.get("fields"),
        )
        decision = result.decision
        # Built directly (the hot path, issue 14): the same JSON OutputSerializer documents
        # and would produce, without a serializer field per value.
        return Response(
            {
                "decision": decision.decision,
                "decision_id": result.decision_id,
                "reasons": [dict(reason) for reason in decision.reasons],
                "principal": result.principal,
                "dataset": result.dataset,
                "purpose": result.purpose,
                "grant": decision.grant_id,
                "fields": [str(name) for name in decision.fields],
                "expires_at": _iso(decision.expires_at),
                "obligations": dict(decision.obligations),
                "lease": result.lease,
            }
        )


class GrantOutput(serializers.Serializer):
    class Meta:
        ref_name = "Grant"

    id = serializers.IntegerField()
    principal = serializers.SerializerMethodField()
    dataset = serializers.CharField(source="dataset.slug")
    purpose = serializers.CharField(source="purpose_slug")
    fields = serializers.ListField(child=serializers.CharField())
    status = serializers.SerializerMethodField(
        help_text="active, expired (the moment expires_at passes), or revoked"
    )
    terms_version = serializers.SerializerMethodField(
        help_text="The purpose version whose terms the grant is used under now"
    )
    starts_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    direct = serializers.BooleanField()
    request = serializers.IntegerField(source="request_id", allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    revoked_reason = serializers.CharField()

    def get_principal(self, obj) -> str:
        return Principal.of_row(obj).label

    def get_status(self, obj) -> str:
        return policy.grant_state(obj)

    def get_terms_version(self, obj) -> str:
        # One lookup per purpose, not per grant, when a list is serialized.
        cache = self.root.__dict__.setdefault("_terms_versions", {})
        if obj.purpose_slug not in cache:
            cache[obj.purpose_slug] = terms_version(terms_purpose(obj))
        return cache[obj.purpose_slug]


class RequestOutput(serializers.Serializer):
    class Meta:
        ref_name = "AccessRequest"

    id = serializers.IntegerField()
    requester = serializers.CharField(source="requester.username")
    principal = serializers.SerializerMethodField()
    dataset = serializers.CharField(source="dataset.slug")
    purpose = serializers.CharField(source="purpose_slug")
    fields = serializers.ListField(child=serializers.CharField())
    duration_days = serializers.IntegerField()
    justification = serializers.CharField()
    status = serializers.CharField()
    needs_privacy_officer = serializers.BooleanField()
    steward_approved_by = serializers.CharField(
        source="steward_approved_by.username", allow_null=True, default=None
    )
    privacy_approved_by = serializers.CharField(
        source="privacy_approved_by.username", allow_null=True, default=None
    )
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    decision_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    grant = serializers.SerializerMethodField()
    comments = serializers.SerializerMethodField()

    def get_principal(self, obj) -> str:
        return Principal.of_row(obj).label

    def get_grant(self, obj) -> int | None:
        grant = Grant.objects.filter(request=obj).values_list("pk", flat=True).first()
        return grant

    def get_comments(self, obj) -> list[dict]:
        return [
            {"author": c.author.username, "body": c.body, "created_at": c.created_at}
            for c in obj.comments.select_related("author")
        ]


class RequestListApi(APIView):
    @extend_schema(
        operation_id="access_requests_list",
        parameters=PAGE_PARAMETERS,
        responses=paginated(RequestOutput),
    )
    def get(self, request: Request) -> Response:
        which = request.query_params.get("box", "mine")
        queryset = (
            selectors.requests_inbox(user=request.user)
            if which == "inbox"
            else selectors.requests_mine(user=request.user)
        )
        return page_of(request, queryset, RequestOutput)


def _idempotency_key(request: Request) -> str | None:
    """The Idempotency-Key header: "" when absent, None when sent blank (refused: a retry
    with it could not be recognised)."""
    if "Idempotency-Key" not in request.headers:
        return ""
    return request.headers["Idempotency-Key"].strip() or None


class RequestCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AccessRequestInput"

        dataset = serializers.CharField(max_length=100)
        purpose = serializers.CharField(max_length=64)
        fields = serializers.ListField(
            child=serializers.CharField(max_length=200),
            allow_empty=False,
            min_length=1,
            max_length=2000,
        )
        duration_days = serializers.IntegerField(min_value=1, max_value=3650)
        justification = serializers.CharField()
        principal = serializers.CharField(required=False, default="self")

    @extend_schema(
        operation_id="access_requests_create",
        request=InputSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="Retrying with the same key and body returns the first request "
                "(200); the same key with another body is a 409.",
            )
        ],
        responses={201: RequestOutput, 200: RequestOutput},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        dataset = dataset_get_for(viewer=request.user, slug=values["dataset"])
        created = services.access_request_create(
            requester=request.user,
            dataset=dataset,
            purpose_slug=values["purpose"],
            fields=values["fields"],
            duration_days=values["duration_days"],
            justification=values["justification"],
            principal=values["principal"],
            idempotency_key=_idempotency_key(request),
        )
        replayed = getattr(created, "replayed", False)
        return Response(RequestOutput(created).data, status=200 if replayed else 201)


class RequestDetailApi(APIView):
    @extend_schema(operation_id="access_requests_detail", responses=RequestOutput)
    def get(self, request: Request, pk: int) -> Response:
        return Response(RequestOutput(selectors.request_get_for(viewer=request.user, pk=pk)).data)


class _TextInput(serializers.Serializer):
    class Meta:
        ref_name = "AccessTextInput"

    text = serializers.CharField(required=False, allow_blank=True, default="")


class _RequiredTextInput(serializers.Serializer):
    """For actions that need a reason: the schema says so (a non-blank string)."""

    class Meta:
        ref_name = "AccessRequiredTextInput"

    # The length is the service's rule (``governance.policy.MAX_NOTE``), checked there for
    # every door with the same message.
    text = serializers.RegexField(r"\S", error_messages={"invalid": "Give a reason."})


def _request_action(name, call, *, text_required: bool = False):
    body = _RequiredTextInput if text_required else _TextInput

    class RequestActionApi(APIView):
        @extend_schema(
            operation_id=f"access_requests_{name}", request=body, responses=RequestOutput
        )
        def post(self, request: Request, pk: int) -> Response:
            access_request = selectors.request_get_for(viewer=request.user, pk=pk)
            data = body(data=request.data)
            data.is_valid(raise_exception=True)
            call(request.user, access_request, data.validated_data["text"])
            access_request = AccessRequest.objects.get(pk=access_request.pk)
            return Response(RequestOutput(access_request).data)

    RequestActionApi.__name__ = f"Request{name.title()}Api"
    return RequestActionApi


RequestApproveApi = _request_action(
    "approve", lambda u, r, t: services.access_request_approve(actor=u, request=r, note=t)
)
RequestDenyApi = _request_action(
    "deny",
    lambda u, r, t: services.access_request_deny(actor=u, request=r, reason=t),
    text_required=True,
)
RequestWithdrawApi = _request_action(
    "withdraw", lambda u, r, t: services.access_request_withdraw(actor=u, request=r)
)
RequestCommentApi = _request_action(
    "comment",
    lambda u, r, t: services.access_request_comment(actor=u, request=r, body=t),
    text_required=True,
)


class GrantListApi(APIView):
    @extend_schema(
        operation_id="access_grants_list",
        parameters=PAGE_PARAMETERS,
        responses=paginated(GrantOutput),
    )
    def get(self, request: Request) -> Response:
        slug = request.query_params.get("dataset")
        if slug:
            dataset = dataset_get_for(viewer=request.user, slug=slug)
            queryset = selectors.grants_visible(viewer=request.user, dataset=dataset)
        else:
            queryset = selectors.grants_mine(user=request.user)
        return page_of(request, queryset, GrantOutput)


class GrantCreateApi(APIView):
    """An administrator grants directly (recorded as such)."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "GrantCreateInput"

        dataset = serializers.CharField(max_length=100)
        purpose = serializers.CharField(max_length=64)
        fields = serializers.ListField(
            child=serializers.CharField(max_length=200), allow_empty=False, min_length=1
        )
        principal = serializers.CharField(help_text="user:NAME, role:NAME or service_account:NAME")
        expires_at = serializers.DateTimeField()
        reason = serializers.CharField()

    @extend_schema(
        operation_id="access_grants_create", request=InputSerializer, responses={201: GrantOutput}
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        dataset = dataset_get_for(viewer=request.user, slug=values["dataset"])
        grantee = Principal.resolve(values["principal"])
        if grantee is None:
            raise ApplicationError(MSG_LABEL, {"field": "principal"})
        grant = services.grant_create_direct(
            actor=request.user,
            dataset=dataset,
            purpose_slug=values["purpose"],
            fields=values["fields"],
            expires_at=values["expires_at"],
            reason=values["reason"],
            principal_user=grantee.user,
            principal_group=grantee.group,
        )
        return Response(GrantOutput(grant).data, status=201)


class GrantRevokeApi(APIView):
    @extend_schema(
        operation_id="access_grants_revoke", request=_RequiredTextInput, responses=GrantOutput
    )
    def post(self, request: Request, pk: int) -> Response:
        grant = selectors.grant_get_for(viewer=request.user, pk=pk)
        data = _RequiredTextInput(data=request.data)
        data.is_valid(raise_exception=True)
        grant = services.grant_revoke(
            actor=request.user, grant=grant, reason=data.validated_data["text"]
        )
        return Response(GrantOutput(grant).data)


class GrantAcknowledgeApi(APIView):
    @extend_schema(operation_id="access_grants_acknowledge", request=None, responses=GrantOutput)
    def post(self, request: Request, pk: int) -> Response:
        grant = selectors.grant_get_for(viewer=request.user, pk=pk)
        services.grant_acknowledge(actor=request.user, grant=grant)
        return Response(GrantOutput(grant).data)


class PurposeApprovalOutput(serializers.Serializer):
    class Meta:
        ref_name = "PurposeApproval"

    id = serializers.IntegerField()
    dataset = serializers.CharField(source="dataset.slug")
    purpose = serializers.CharField(source="purpose_slug")
    purpose_version = serializers.IntegerField(source="purpose.version")
    approved_by = serializers.CharField(source="approved_by.username")
    approved_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)


class PurposeApprovalListApi(APIView):
    @extend_schema(
        operation_id="access_purpose_approvals_list",
        parameters=PAGE_PARAMETERS,
        responses=paginated(PurposeApprovalOutput),
    )
    def get(self, request: Request) -> Response:
        slug = request.query_params.get("dataset")
        dataset = dataset_get_for(viewer=request.user, slug=slug) if slug else None
        queryset = selectors.purpose_approvals(viewer=request.user, dataset=dataset)
        return page_of(request, queryset, PurposeApprovalOutput)


class PurposeApprovalCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "PurposeApprovalInput"

        dataset = serializers.CharField(max_length=100)
        purpose = serializers.CharField(max_length=64)
        note = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="access_purpose_approvals_create",
        request=InputSerializer,
        responses={201: PurposeApprovalOutput},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        dataset = dataset_get_for(viewer=request.user, slug=values["dataset"])
        approval = services.purpose_approval_create(
            actor=request.user, dataset=dataset, purpose_slug=values["purpose"], note=values["note"]
        )
        return Response(PurposeApprovalOutput(approval).data, status=201)


class PurposeApprovalRevokeApi(APIView):
    @extend_schema(
        operation_id="access_purpose_approvals_revoke",
        request=_RequiredTextInput,
        responses=PurposeApprovalOutput,
    )
    def post(self, request: Request, pk: int) -> Response:
        approval = selectors.purpose_approvals(viewer=request.user).filter(pk=pk).first()
        if approval is None:
            raise NotFound("No such approval.")
        data = _RequiredTextInput(data=request.data)
        data.is_valid(raise_exception=True)
        approval = services.purpose_approval_revoke(
            actor=request.user, approval=approval, reason=data.validated_data["text"]
        )
        return Response(PurposeApprovalOutput(approval).data)


class TrainingCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TrainingInput"

        user = serializers.CharField()
        course = serializers.CharField(max_length=200)
        completed_at = serializers.DateTimeField()
        expires_at = serializers.DateTimeField(required=False)
        evidence = serializers.CharField(required=False, allow_blank=True, default="")

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "Training"

        id = serializers.IntegerField()
        user = serializers.CharField(source="user.username")
        course = serializers.CharField()
        completed_at = serializers.DateTimeField()
        expires_at = serializers.DateTimeField()

    @extend_schema(
        operation_id="access_training_create",
        request=InputSerializer,
        responses={201: OutputSerializer},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        user = User.objects.filter(username=values["user"], is_active=True).first()
        if user is None:
            raise ApplicationError(
                MSG_UNKNOWN_PERSON.format(username=values["user"]), {"field": "user"}
            )
        attestation = services.training_record(
            actor=request.user,
            user=user,
            course=values["course"],
            completed_at=values["completed_at"],
            expires_at=values.get("expires_at"),
            evidence=values["evidence"],
        )
        return Response(self.OutputSerializer(attestation).data, status=201)
