"""APIs for training jobs (filter, export, snapshots) and consent receipts."""

from __future__ import annotations

import contextvars
import re

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consent import policy, selectors, services
from consent.apis.formats import (
    CSV_HEADER,
    BoundedJSONParser,
    CSVRenderer,
    NDJSONRenderer,
    csv_rows,
    ndjson_rows,
)
from consent.models import ConsentSnapshot
from governance.deadline import deadline_for
from governance.errors import ApplicationError, NotFound
from governance.policy import require

MSG_FORMAT = "Unknown export format '{format}'; use ndjson or csv."
MSG_SNAPSHOT_NOT_FOUND = "There is no snapshot with this id."
MSG_SNAPSHOT_FORBIDDEN = policy.MSG_SNAPSHOT_FORBIDDEN


MSG_PURPOSE_REQUIRED = "Name the purpose, or the snapshot to ask at."


class SubjectIdListField(serializers.ListField):
    """A list of subject ids, each a string of at most 256 characters. A list of plain strings
    (what clients send: ASCII, no surrounding whitespace, no NUL) is taken as it is; anything
    else gets ListField's item-by-item CharField validation, with its conversions and its
    messages. Validating 100,000 ids through a CharField each cost more than the query
    (issue 14); the fast path accepts exactly what that validation would return unchanged."""

    MAX_ID = 256

    def __init__(self, **kwargs):
        super().__init__(child=serializers.CharField(max_length=self.MAX_ID), **kwargs)

    def to_internal_value(self, data):
        if type(data) is list and data and _plain_ids(data):
            return list(data)
        return super().to_internal_value(data)


def _plain_id(value) -> bool:
    return (
        type(value) is str
        and 0 < len(value) <= SubjectIdListField.MAX_ID
        and value.isascii()
        and "\x00" not in value
        and value.strip() == value
    )


# Whitespace at either end of an id in the ids joined by NUL (str.strip's characters: the
# ids are ASCII by then, and re's \s matches exactly str.isspace() among ASCII characters).
_EDGE_SPACE = re.compile(r"(?:^|\x00)\s|\s(?:\x00|$)")


def _plain_ids(values: list) -> bool:
    """``all(map(_plain_id, values))`` with a few checks over the joined ids instead of a call
    per id: all strings (join), no NUL (the separator appears exactly between them), ASCII,
    lengths within bounds, no whitespace at either end."""
    try:
        joined = "\x00".join(values)
    except TypeError:
        return False
    return (
        joined.count("\x00") == len(values) - 1
        and joined.isascii()
        and min(map(len, values)) > 0
        and max(map(len, values)) <= SubjectIdListField.MAX_ID
        and _EDGE_SPACE.search(joined) is None
    )


def _purpose_or_snapshot(values: dict) -> None:
    if not values.get("purpose") and not values.get("snapshot"):
        raise ApplicationError(MSG_PURPOSE_REQUIRED, {"field": "purpose"})


class SnapshotSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ConsentSnapshot"

    id = serializers.UUIDField()
    kind = serializers.CharField()
    purpose = serializers.CharField(source="purpose.slug")
    purpose_version = serializers.IntegerField(source="purpose.version")
    namespace = serializers.CharField()
    as_of = serializers.DateTimeField()
    known_at = serializers.DateTimeField()
    requested_count = serializers.IntegerField(allow_null=True)
    requested_sha256 = serializers.CharField()
    count = serializers.IntegerField(allow_null=True)
    sha256 = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    basis = serializers.UUIDField(source="basis_id", allow_null=True)


class ConsentFilterApi(APIView):
    """Which of these subjects may be used for the purpose: the ids whose consent was valid
    at ``as_of`` (default now), read from the history, and a snapshot naming this answer
    (count and SHA-256 of the sorted ``namespace:id`` lines)."""

    parser_classes = [BoundedJSONParser]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ConsentFilterInput"

        purpose = serializers.CharField(
            max_length=64, required=False, help_text="Required unless a snapshot is given."
        )
        namespace = serializers.CharField(
            max_length=64,
            required=False,
            help_text="The subjects' namespace (the check's consent_filter.namespace). Left "
            "out: the registry's only namespace, or 400 when there are several.",
        )
        snapshot = serializers.UUIDField(
            required=False,
            help_text="Ask at this snapshot (an access decision's): its purpose version, "
            "namespace, as_of and known_at.",
        )
        subject_ids = SubjectIdListField(allow_empty=False, min_length=1)
        as_of = serializers.DateTimeField(required=False, allow_null=True)
        known_at = serializers.DateTimeField(
            required=False,
            allow_null=True,
            help_text="Count only events recorded by then (default now); a snapshot's known_at "
            "reproduces its answer.",
        )

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ConsentFilterAnswer"

        purpose = serializers.CharField()
        purpose_version = serializers.IntegerField()
        namespace = serializers.CharField()
        as_of = serializers.DateTimeField()
        known_at = serializers.DateTimeField()
        count = serializers.IntegerField()
        subject_ids = serializers.ListField(child=serializers.CharField())
        snapshot = SnapshotSerializer()

    @extend_schema(
        request=InputSerializer, responses=OutputSerializer, operation_id="consent_filter"
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        _purpose_or_snapshot(values)
        answer = services.consent_filter(
            purpose=values.get("purpose"),
            namespace=values.get("namespace"),
            subject_ids=values["subject_ids"],
            as_of=values.get("as_of"),
            known_at=values.get("known_at"),
            snapshot=values.get("snapshot"),
            actor=request.user,
        )
        snapshot = answer.snapshot
        body = {
            "purpose": answer.purpose.slug,
            "purpose_version": answer.purpose.version,
            "namespace": snapshot.namespace,
            "as_of": snapshot.as_of,
            "known_at": snapshot.known_at,
            "count": snapshot.count,
            "subject_ids": answer.subject_ids,
            "snapshot": snapshot,
        }
        data = self.OutputSerializer(body | {"subject_ids": []}).data
        # The ids are strings already: what ListField(CharField) would return, without a
        # call per id.
        data["subject_ids"] = answer.subject_ids
        return Response(data)


def _in_context(context: contextvars.Context, chunks):
    """Run a streaming body in the request's context: the response is iterated after the
    middleware has returned, and the ledger entries written at the end of the export must
    still carry the request id and client address."""
    try:
        while True:
            try:
                chunk = context.run(next, chunks)
            except StopIteration:
                return
            yield chunk
    finally:
        # Closed early (the client went away): end the export's read in the same context.
        context.run(chunks.close)


class ConsentExportApi(APIView):
    """Every subject with valid consent for the purpose at ``as_of``, streamed (NDJSON by
    default, CSV with ``?format=csv`` or ``Accept: text/csv``) straight from a server-side
    cursor: memory stays flat at any size. The snapshot id is in the ``X-Consent-Snapshot``
    header; its count and hash are filled in once the last line is sent."""

    renderer_classes = [NDJSONRenderer, CSVRenderer]

    def perform_content_negotiation(self, request, force=False):
        requested = request.query_params.get("format")
        if requested and requested not in ("ndjson", "csv") and not force:
            raise ApplicationError(MSG_FORMAT.format(format=requested), {"field": "format"})
        return super().perform_content_negotiation(request, force=force)

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response):  # errors are JSON, whatever was asked for
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    class QuerySerializer(serializers.Serializer):
        class Meta:
            ref_name = "ConsentExportQuery"

        purpose = serializers.CharField(max_length=64, required=False)
        namespace = serializers.CharField(max_length=64, required=False)
        snapshot = serializers.UUIDField(required=False)
        as_of = serializers.DateTimeField(required=False, allow_null=True)
        known_at = serializers.DateTimeField(required=False, allow_null=True)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "purpose", {"type": "string", "minLength": 1, "maxLength": 64}, required=True
            ),
            OpenApiParameter("as_of", OpenApiTypes.DATETIME),
            OpenApiParameter("known_at", OpenApiTypes.DATETIME),
            OpenApiParameter(
                "namespace",
                str,
                description="Only this namespace; * for all. Left out: the registry's only "
                "namespace, or 400 when there are several.",
            ),
            OpenApiParameter(
                "snapshot",
                OpenApiTypes.UUID,
                description="Export at this snapshot (an access decision's); its first "
                "complete export seals the snapshot's count and sha256.",
            ),
            OpenApiParameter("format", str, enum=["ndjson", "csv"]),
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR, description='{"namespace":"shop","subject_id":"c-1"} per line'
            ),
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="namespace,subject_id"
            ),
        },
        operation_id="consent_export",
    )
    def get(self, request: Request):
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        _purpose_or_snapshot(values)
        snapshot = services.consent_export_start(
            purpose=values.get("purpose"),
            namespace=values.get("namespace"),
            as_of=values.get("as_of"),
            known_at=values.get("known_at"),
            snapshot=values.get("snapshot"),
            actor=request.user,
        )
        csv = request.accepted_renderer.format == "csv"
        chunks = services.export_lines(
            snapshot,
            render=csv_rows if csv else ndjson_rows,
            header=CSV_HEADER if csv else "",
            chunk_deadline=deadline_for(request.path),
        )
        response = StreamingHttpResponse(
            _in_context(contextvars.copy_context(), chunks),
            content_type="text/csv; charset=utf-8" if csv else "application/x-ndjson",
        )
        stamp = snapshot.as_of.strftime("%Y%m%dT%H%M%SZ")
        name = f"consent-{snapshot.purpose.slug}-v{snapshot.purpose.version}-{stamp}"
        response["Content-Disposition"] = (
            f'attachment; filename="{name}.{"csv" if csv else "ndjson"}"'
        )
        response["Cache-Control"] = "no-store"
        response["X-Consent-Snapshot"] = str(snapshot.pk)
        response["X-Consent-Purpose-Version"] = str(snapshot.purpose.version)
        response["X-Consent-As-Of"] = snapshot.as_of.isoformat()
        response["X-Consent-Known-At"] = snapshot.known_at.isoformat()
        return response


class SnapshotDetailApi(APIView):
    """A filter or export answer as recorded: the question, the count and the hash."""

    @extend_schema(responses=SnapshotSerializer, operation_id="consent_snapshots_retrieve")
    def get(self, request: Request, snapshot_id) -> Response:
        snapshot = (
            ConsentSnapshot.objects.select_related("purpose", "created_by")
            .filter(pk=snapshot_id)
            .first()
        )
        require(policy.may_read_snapshot(request.user, snapshot))
        if snapshot is None:
            raise NotFound(MSG_SNAPSHOT_NOT_FOUND)
        return Response(SnapshotSerializer(snapshot).data)


class ReceiptApi(APIView):
    """A subject's consent receipt for one purpose (ISO/IEC TS 27560 / Kantara in spirit):
    the latest version of the purpose the subject has a record for, or ``?version=N``."""

    @extend_schema(
        parameters=[OpenApiParameter("version", int)],
        responses={200: OpenApiTypes.OBJECT},
        operation_id="consent_receipts_retrieve",
    )
    def get(self, request: Request, namespace: str, subject_id: str, slug: str) -> Response:
        subject = selectors.subject_get_for(
            viewer=request.user, namespace=namespace, external_id=subject_id
        )
        purpose = selectors.subject_record_purpose(
            subject=subject, slug=slug, version=request.query_params.get("version")
        )
        receipt = services.receipt_issue(viewer=request.user, subject=subject, purpose=purpose)
        return Response(receipt)
