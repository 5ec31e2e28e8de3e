"""REST API under /api/v1/compliance/: request an export, poll it, download it."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.compliance import services
from governance.compliance.models import Export


class ExportOutputSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.username")
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Export
        ref_name = "ComplianceExport"
        fields = [
            "id",
            "kind",
            "params",
            "status",
            "progress",
            "size",
            "sha256",
            "error",
            "summary",
            "requested_by",
            "created_at",
            "finished_at",
            "download_url",
        ]

    def get_download_url(self, export: Export) -> str | None:
        if export.status != Export.Status.SUCCEEDED:
            return None
        return f"/api/v1/compliance/exports/{export.pk}/download"


class ExportCreateApi(APIView):
    """Queue an export (202). Auditors, privacy officers and administrators only."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ComplianceExportInput"

        kind = serializers.ChoiceField(choices=Export.Kind.values)
        start = serializers.DateTimeField(required=False, allow_null=True)
        end = serializers.DateTimeField(required=False, allow_null=True)
        dataset = serializers.CharField(required=False, allow_null=True, max_length=100)
        fmt = serializers.CharField(required=False, allow_null=True, max_length=8)

    @extend_schema(
        operation_id="compliance_export_create",
        request=InputSerializer,
        responses={202: ExportOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        export = services.export_request(actor=request.user, **data.validated_data)
        return Response(ExportOutputSerializer(export).data, status=202)


class ExportDetailApi(APIView):
    @extend_schema(operation_id="compliance_export_get", responses=ExportOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        export = services.export_get_for(viewer=request.user, export_id=pk)
        return Response(ExportOutputSerializer(export).data)


class ExportDownloadApi(APIView):
    """The file, as an attachment; 409 until it is ready. Every download is a ledger event."""

    @extend_schema(
        operation_id="compliance_export_download",
        responses={200: OpenApiResponse(description="The export file.")},
    )
    def get(self, request: Request, pk: int):
        export = services.export_get_for(viewer=request.user, export_id=pk)
        path = services.export_download(actor=request.user, export=export)
        return FileResponse(path.open("rb"), as_attachment=True, filename=export.file_name)
