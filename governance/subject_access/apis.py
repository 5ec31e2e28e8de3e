"""REST API under /api/v1/subject-access/requests: record a verified request, produce its
package, download it, extend, refuse or close it (privacy officers); list and read requests
(privacy officers, auditors, administrators)."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api.pagination import PAGE_PARAMETERS, page_of, paginated
from governance.audit.services import record_refusal
from governance.errors import ApplicationError
from governance.subject_access import policy, services
from governance.subject_access.models import SubjectAccessRequest


class RequestOutputSerializer(serializers.ModelSerializer):
    subject = serializers.CharField(source="subject_label")
    created_by = serializers.CharField(source="created_by.username")
    days_left = serializers.SerializerMethodField()

    class Meta:
        model = SubjectAccessRequest
        ref_name = "SubjectAccessRequest"
        fields = [
            "id",
            "subject",
            "namespace",
            "status",
            "reference",
            "received_on",
            "due_on",
            "days_left",
            "extended",
            "extension_reason",
            "rejection_reason",
            "completion_note",
            "produced_at",
            "package_sha256",
            "package_size",
            "package_summary",
            "created_by",
            "created_at",
            "closed_at",
        ]

    def get_days_left(self, request: SubjectAccessRequest) -> int | None:
        return request.days_left()


def _validated(serializer, request: Request, target=None) -> dict:
    """The body's fields; an invalid body is a 400 recorded as ``subject_access.refused``."""
    if serializer.is_valid():
        return dict(serializer.validated_data)
    problems = {
        name: " ".join(str(m) for m in (messages if isinstance(messages, list) else [messages]))
        for name, messages in serializer.errors.items()
    }
    name = next(iter(problems))
    error = ApplicationError(problems[name], {"field": name, "fields": problems})
    record_refusal(services.REFUSED, error, target=target, actor=request.user)
    raise error


def _request(viewer, pk) -> SubjectAccessRequest:
    return services.request_get_for(viewer=viewer, pk=pk)


class RequestListApi(APIView):
    @extend_schema(
        operation_id="subject_access_request_list",
        parameters=PAGE_PARAMETERS,
        responses=paginated(RequestOutputSerializer),
    )
    def get(self, request: Request) -> Response:
        found = services.requests_visible(viewer=request.user)
        return page_of(request, found, RequestOutputSerializer)


class RequestCreateApi(APIView):
    """Record a verified request (201). Privacy officers only."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SubjectAccessRequestInput"

        namespace = serializers.CharField(required=False, max_length=64, default="default")
        subject_id = serializers.CharField(required=False, allow_blank=True, max_length=128)
        received_on = serializers.DateField(required=False, allow_null=True)
        identity_verification = serializers.CharField(
            required=False, allow_blank=True, max_length=5000
        )
        reference = serializers.CharField(required=False, allow_blank=True, max_length=200)
        note = serializers.CharField(required=False, allow_blank=True, max_length=5000)

    @extend_schema(
        operation_id="subject_access_request_create",
        request=InputSerializer,
        responses={201: RequestOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        refuse = policy.may_handle(request.user)
        if refuse is not None:
            record_refusal(services.REFUSED, refuse.error(), actor=request.user)
            raise refuse.error()
        values = _validated(self.InputSerializer(data=request.data), request)
        created = services.subject_access_request_create(
            actor=request.user,
            namespace=values.get("namespace") or "default",
            external_id=values.get("subject_id", ""),
            received_on=values.get("received_on"),
            identity_verification=values.get("identity_verification", ""),
            reference=values.get("reference", ""),
            note=values.get("note", ""),
        )
        return Response(RequestOutputSerializer(created).data, status=201)


class RequestDetailApi(APIView):
    @extend_schema(operation_id="subject_access_request_get", responses=RequestOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(RequestOutputSerializer(_request(request.user, pk)).data)


class RequestProduceApi(APIView):
    """Read every store and produce the package (privacy officers, open requests)."""

    @extend_schema(
        operation_id="subject_access_request_produce",
        request=None,
        responses=RequestOutputSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        found = services.subject_access_produce(
            actor=request.user, request=_request(request.user, pk)
        )
        return Response(RequestOutputSerializer(found).data)


class RequestPackageApi(APIView):
    """The package, as an attachment; 409 when none is produced or the request is closed."""

    @extend_schema(
        operation_id="subject_access_request_package",
        responses={200: OpenApiResponse(description="The package (zip).")},
    )
    def get(self, request: Request, pk: int):
        found = _request(request.user, pk)
        path = services.subject_access_package(actor=request.user, request=found)
        return FileResponse(path.open("rb"), as_attachment=True, filename=found.package_name)


class _ReasonInput(serializers.Serializer):
    class Meta:
        ref_name = "SubjectAccessReasonInput"

    reason = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class RequestExtendApi(APIView):
    @extend_schema(
        operation_id="subject_access_request_extend",
        request=_ReasonInput,
        responses=RequestOutputSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        found = _request(request.user, pk)
        values = _validated(_ReasonInput(data=request.data), request, found)
        found = services.subject_access_extend(
            actor=request.user, request=found, reason=values.get("reason", "")
        )
        return Response(RequestOutputSerializer(found).data)


class RequestRejectApi(APIView):
    @extend_schema(
        operation_id="subject_access_request_reject",
        request=_ReasonInput,
        responses=RequestOutputSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        found = _request(request.user, pk)
        values = _validated(_ReasonInput(data=request.data), request, found)
        found = services.subject_access_reject(
            actor=request.user, request=found, reason=values.get("reason", "")
        )
        return Response(RequestOutputSerializer(found).data)


class RequestCompleteApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SubjectAccessCompleteInput"

        note = serializers.CharField(required=False, allow_blank=True, max_length=5000)

    @extend_schema(
        operation_id="subject_access_request_complete",
        request=InputSerializer,
        responses=RequestOutputSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        found = _request(request.user, pk)
        values = _validated(self.InputSerializer(data=request.data), request, found)
        found = services.subject_access_complete(
            actor=request.user, request=found, note=values.get("note", "")
        )
        return Response(RequestOutputSerializer(found).data)
