"""APIs for sources: record one event, record a batch, read a subject's state and history."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consent import selectors, services
from consent.apis.common import EventOutputSerializer, StateOutputSerializer
from consent.apis.formats import BoundedJSONParser, NDJSONParser
from consent.identifiers import DEFAULT_NAMESPACE
from consent.models import ConsentState
from consent.services import BATCH_LIMIT, EventInput
from consent.vocab import CollectionMethod, ConsentStatus
from governance.errors import ApplicationError

MSG_BATCH_NOT_A_LIST = (
    "A batch is a JSON array of events (Content-Type: application/json) or one event per line "
    "(Content-Type: application/x-ndjson)."
)
MSG_BATCH_INVALID = (
    "{rejected} of {total} events have invalid fields, so nothing was recorded; see details.items."
)


class EventInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ConsentEventInput"

    namespace = serializers.CharField(max_length=64, default=DEFAULT_NAMESPACE)
    subject_id = serializers.CharField(max_length=256)
    purpose = serializers.CharField(max_length=64)
    status = serializers.ChoiceField(choices=ConsentStatus.choices)
    occurred_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="When the subject acted; defaults to now. At most 5 minutes in the future.",
    )
    notice_version = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="The notice version the subject saw; required for given and renewed.",
    )
    collection_method = serializers.ChoiceField(
        choices=CollectionMethod.choices, default=CollectionMethod.API
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    evidence = serializers.DictField(
        child=serializers.CharField(max_length=1000, allow_blank=True),
        required=False,
        help_text="form_id, reference, user_agent, ip_address (the last two stored only as "
        "keyed hashes).",
    )
    idempotency_key = serializers.CharField(max_length=128, required=False, allow_null=True)

    def to_event(self) -> EventInput:
        return to_event(self.validated_data)


def to_event(data: dict) -> EventInput:
    return EventInput(
        subject_id=data["subject_id"],
        purpose=data["purpose"],
        status=data["status"],
        namespace=data["namespace"],
        occurred_at=data.get("occurred_at"),
        notice_version=data.get("notice_version"),
        collection_method=data["collection_method"],
        expires_at=data.get("expires_at"),
        evidence=data.get("evidence") or {},
        idempotency_key=data.get("idempotency_key"),
    )


class EventRecordApi(APIView):
    """Record one consent event — giving and withdrawing take the same shape (Art. 7(3)).
    201 with the new event; 200 with the original when the same source replays the same
    idempotency key with the same body; 409 when the key was used for a different body."""

    class OutputSerializer(EventOutputSerializer):
        class Meta:
            ref_name = "ConsentEventRecorded"

        replayed = serializers.BooleanField()
        state = StateOutputSerializer(allow_null=True)

    @extend_schema(
        request=EventInputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer},
        operation_id="consent_events_record",
        examples=[
            OpenApiExample(
                "Consent given",
                request_only=True,
                value={
                    "namespace": "shop",
                    "subject_id": "c-000123",
                    "purpose": "churn-model-training",
                    "status": "given",
                    "occurred_at": "2026-11-28T09:30:00Z",
                    "notice_version": 2,
                    "collection_method": "web_form",
                    "evidence": {"form_id": "signup-v3", "user_agent": "Mozilla/5.0 ..."},
                    "idempotency_key": "signup-7f3a9c",
                },
            ),
            OpenApiExample(
                "Consent withdrawn",
                request_only=True,
                value={
                    "namespace": "shop",
                    "subject_id": "c-000123",
                    "purpose": "churn-model-training",
                    "status": "withdrawn",
                    "idempotency_key": "prefs-88e1",
                },
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        data = EventInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.consent_record(event=data.to_event(), actor=request.user)
        event = result.event
        state = (
            ConsentState.objects.select_related("purpose")
            .filter(subject_id=event.subject_id, purpose_id=event.purpose_id)
            .first()
        )
        body = EventOutputSerializer(event).data | {
            "replayed": result.replayed,
            "state": StateOutputSerializer(state).data if state else None,
        }
        return Response(body, status=200 if result.replayed else 201)


class EventBatchApi(APIView):
    """Record up to 10,000 events in one request, all or nothing: a JSON array
    (application/json) or one object per line (application/x-ndjson). Per-item problems come
    back as ``details.items = [{"index", "errors": {field: [messages]}}]``."""

    parser_classes = [BoundedJSONParser, NDJSONParser]
    batch_limit = BATCH_LIMIT

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ConsentBatchRecorded"

        class ItemSerializer(serializers.Serializer):
            class Meta:
                ref_name = "ConsentBatchItem"

            index = serializers.IntegerField()
            id = serializers.IntegerField()
            status = serializers.CharField()
            replayed = serializers.BooleanField()

        recorded = serializers.IntegerField()
        replayed = serializers.IntegerField()
        events = ItemSerializer(many=True)

    @extend_schema(
        request={
            "application/json": EventInputSerializer(many=True, min_length=1),
            "application/x-ndjson": OpenApiTypes.STR,
        },
        responses={201: OutputSerializer, 200: OutputSerializer},
        operation_id="consent_events_record_batch",
    )
    def post(self, request: Request) -> Response:
        items = request.data
        if not isinstance(items, list):
            raise ApplicationError(MSG_BATCH_NOT_A_LIST)
        count = getattr(items, "lines", len(items))
        if count > BATCH_LIMIT:
            raise ApplicationError(
                services.events.MSG_BATCH_TOO_LARGE.format(count=count), {"limit": BATCH_LIMIT}
            )
        data = EventInputSerializer(data=items, many=True)
        if not data.is_valid():
            errors = data.errors
            # DRF reports a list (one entry per item) or, in newer versions, {index: errors}.
            pairs = errors.items() if isinstance(errors, dict) else enumerate(errors)
            rejected = [
                {"index": int(index), "errors": item_errors}
                for index, item_errors in sorted(pairs, key=lambda pair: int(pair[0]))
                if item_errors
            ]
            raise services.BatchRejected(
                MSG_BATCH_INVALID.format(rejected=len(rejected), total=len(items)),
                {"items": rejected},
            )
        results = services.consent_record_batch(
            events=[to_event(item) for item in data.validated_data], actor=request.user
        )
        recorded = sum(not r.replayed for r in results)
        body = {
            "recorded": recorded,
            "replayed": len(results) - recorded,
            "events": [
                {
                    "index": index,
                    "id": r.event.pk,
                    "status": r.event.status,
                    "replayed": r.replayed,
                }
                for index, r in enumerate(results)
            ],
        }
        return Response(body, status=201 if recorded else 200)


class SubjectDetailApi(APIView):
    """A subject's current state for every purpose and full history, in the order that
    decides the state. For stewards, privacy officers, auditors and the sources recording
    events."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ConsentSubject"

        class SubjectSerializer(serializers.Serializer):
            class Meta:
                ref_name = "ConsentSubjectDetail"

            namespace = serializers.CharField()
            id = serializers.CharField(source="external_id")
            created_at = serializers.DateTimeField()

        subject = SubjectSerializer()
        states = StateOutputSerializer(many=True)
        events = EventOutputSerializer(many=True)

    @extend_schema(
        responses={200: OutputSerializer, 404: OpenApiResponse(description="Unknown subject")},
        operation_id="consent_subjects_retrieve",
    )
    def get(self, request: Request, namespace: str, subject_id: str) -> Response:
        subject = selectors.subject_get_for(
            viewer=request.user, namespace=namespace, external_id=subject_id
        )
        events = list(selectors.subject_events(subject=subject))
        for event in events:
            event.subject = subject
        body = self.OutputSerializer(
            {
                "subject": subject,
                "states": selectors.subject_states(subject=subject),
                "events": events,
            }
        ).data
        return Response(body)
