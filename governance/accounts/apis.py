from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.accounts.models import User


class MeApi(APIView):
    """Who is calling: a person or a service account, its owner, its roles."""

    class OwnerSerializer(serializers.Serializer):
        username = serializers.CharField()
        email = serializers.EmailField()

    class ServiceAccountSerializer(serializers.Serializer):
        name = serializers.CharField()
        client_id = serializers.CharField()
        owner = serializers.SerializerMethodField()
        created_at = serializers.DateTimeField()

        def get_owner(self, obj) -> dict:
            return MeApi.OwnerSerializer(obj.owner).data

    class OutputSerializer(serializers.Serializer):
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
