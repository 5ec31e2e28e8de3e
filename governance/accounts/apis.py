from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.accounts import selectors, services
from governance.accounts.models import User
from governance.api.pagination import PAGE_PARAMETERS, page_of, paginated
from governance.errors import ApplicationError

MSG_OWNER_UNKNOWN = "No person with this username."


class MeApi(APIView):
    """Who is calling: a person or a service account, its owner, its roles. Answers any
    authenticated caller (a service account whose owner left can still learn who it is)."""

    permission_classes = [IsAuthenticated]

    class OwnerSerializer(serializers.Serializer):
        class Meta:
            ref_name = "MeOwner"

        username = serializers.CharField()
        email = serializers.EmailField()

    class ServiceAccountSerializer(serializers.Serializer):
        class Meta:
            ref_name = "MeServiceAccount"

        name = serializers.CharField()
        client_id = serializers.CharField()
        owner = serializers.SerializerMethodField()
        created_at = serializers.DateTimeField()

        def get_owner(self, obj) -> dict:
            return MeApi.OwnerSerializer(obj.owner).data

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "Me"

        kind = serializers.ChoiceField(choices=["user", "service_account"])
        username = serializers.CharField()
        name = serializers.CharField()
        email = serializers.CharField()
        roles = serializers.ListField(child=serializers.CharField())
        authentication = serializers.ChoiceField(choices=["oauth2", "session"])
        scopes = serializers.ListField(child=serializers.CharField())
        service_account = serializers.DictField(allow_null=True)

    @extend_schema(responses=OutputSerializer, operation_id="me")
    def get(self, request: Request) -> Response:
        user: User = request.user
        token = request.auth
        service_account = None
        if user.is_service_account:
            service_account = self.ServiceAccountSerializer(user.service_account).data
        data = {
            "kind": "service_account" if user.is_service_account else "user",
            "username": user.username,
            "name": user.get_full_name() or user.username,
            "email": user.email,
            "roles": user.roles,
            "authentication": "oauth2" if token is not None else "session",
            "scopes": sorted(token.scope.split()) if token is not None else [],
            "service_account": service_account,
        }
        return Response(self.OutputSerializer(data).data)


class ServiceAccountOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ServiceAccount"

    name = serializers.CharField()
    description = serializers.CharField()
    owner = serializers.CharField(source="owner.username")
    client_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    is_active = serializers.BooleanField()


class ServiceAccountListApi(APIView):
    """Service accounts the caller may see (all for admins/auditors, own ones otherwise)."""

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=paginated(ServiceAccountOutputSerializer),
        operation_id="service_accounts_list",
    )
    def get(self, request: Request) -> Response:
        accounts = selectors.service_account_list(viewer=request.user)
        return page_of(request, accounts, ServiceAccountOutputSerializer)


class ServiceAccountCreateApi(APIView):
    """Create a service account (administrators). The answer carries the client secret; it is
    never shown again."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ServiceAccountCreateInput"

        name = serializers.CharField(max_length=64)
        owner = serializers.CharField(max_length=150)
        description = serializers.CharField(required=False, allow_blank=True, default="")

    class OutputSerializer(ServiceAccountOutputSerializer):
        class Meta:
            ref_name = "ServiceAccountCreated"

        client_secret = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer},
        operation_id="service_accounts_create",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        owner = User.objects.filter(username=data.validated_data["owner"]).first()
        if owner is None:
            raise ApplicationError(MSG_OWNER_UNKNOWN, {"field": "owner"})
        account, secret = services.service_account_create(
            name=data.validated_data["name"],
            owner=owner,
            description=data.validated_data["description"],
            actor=request.user,
        )
        body = ServiceAccountOutputSerializer(account).data | {"client_secret": secret}
        return Response(body, status=201, headers={"Cache-Control": "no-store"})
