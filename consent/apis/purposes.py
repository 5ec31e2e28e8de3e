"""Read-only purpose APIs: sources need the notice versions, jobs the legal bases. Purposes are
registered, activated and retired in the portal (the activation is a person's sign-off)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consent import selectors
from consent.models import Purpose
from governance.api.pagination import PAGE_PARAMETERS, page_of, paginated
from governance.errors import ApplicationError

MSG_STATUS = "status is one of: draft, submitted, active, retired."
MSG_VERSION = "version must be a positive whole number."


class NoticeSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ConsentNotice"

    version = serializers.IntegerField()
    language = serializers.CharField()
    url = serializers.CharField()
    content_hash = serializers.CharField()
    effective_from = serializers.DateTimeField()


class PurposeSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ConsentPurpose"

    slug = serializers.CharField()
    version = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    status = serializers.CharField()
    legal_basis = serializers.CharField()
    legal_basis_iri = serializers.CharField()
    legal_basis_gdpr_iri = serializers.CharField()
    special_categories = serializers.BooleanField()
    special_category_condition = serializers.CharField()
    data_categories = serializers.ListField(child=serializers.CharField())
    data_subject_categories = serializers.ListField(child=serializers.CharField())
    recipients = serializers.ListField(child=serializers.CharField())
    retention_days = serializers.IntegerField()
    dpia_reference = serializers.CharField()
    controller = serializers.CharField()
    controller_contact = serializers.CharField()
    withdrawal_method = serializers.CharField()
    consent_validity_months = serializers.IntegerField(allow_null=True)
    owner = serializers.CharField(source="owner.username")
    activated_at = serializers.DateTimeField(allow_null=True)
    retired_at = serializers.DateTimeField(allow_null=True)
    notices = NoticeSerializer(many=True)


class PurposeListApi(APIView):
    """Every version of every purpose (``?status=active`` for the ones in use)."""

    @extend_schema(
        parameters=[*PAGE_PARAMETERS, OpenApiParameter("status", str, enum=Purpose.Status.values)],
        responses=paginated(PurposeSerializer),
        operation_id="consent_purposes_list",
    )
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status") or None
        if status is not None and status not in Purpose.Status.values:
            raise ApplicationError(MSG_STATUS, {"field": "status"})
        purposes = selectors.purposes_with_notices(viewer=request.user, status=status)
        return page_of(request, purposes, PurposeSerializer)


class PurposeDetailApi(APIView):
    """One purpose: the active version, or ``?version=N``."""

    @extend_schema(
        parameters=[OpenApiParameter("version", {"type": "integer", "minimum": 1})],
        responses=PurposeSerializer,
        operation_id="consent_purposes_retrieve",
    )
    def get(self, request: Request, slug: str) -> Response:
        version = request.query_params.get("version") or None
        if version is not None and (not version.isdigit() or int(version) < 1):
            raise ApplicationError(MSG_VERSION, {"field": "version"})
        purpose = selectors.purpose_get_for(
            viewer=request.user, slug=slug, version=int(version) if version else None
        )
        return Response(PurposeSerializer(purpose).data)
