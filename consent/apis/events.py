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
from consent.apis.formats import BoundedJSONParser, NDJSONParser, cycle_collection_paused
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


def _plain_text(value, limit: int) -> bool:
    """A string a CharField of this ``max_length`` returns unchanged (no trimming, not blank,
    no NUL, no surrogate: ASCII)."""
    return (
        type(value) is str
        and 0 < len(value) <= limit
        and value.isascii()
        and "\x00" not in value
        and value.strip() == value
    )


def _plain_evidence(value) -> bool:
    return type(value) is dict and all(
        type(text) is str
        and len(text) <= 1000
        and text.isascii()
        and "\x00" not in text
        and text.strip() == text
        for text in value.values()
    )


_STATUSES = frozenset(ConsentStatus.values)
_METHODS = frozenset(CollectionMethod.values)


class _BatchValidation:
    """``EventInputSerializer`` over a batch, without a serializer run per item: an item whose
    every field is one the serializer would return unchanged (or the datetimes it parses,
    parsed by the serializer's own field, once per distinct string) becomes an EventInput
    directly; any other item goes through ``EventInputSerializer`` on its own, so its
    conversions and messages are the serializer's. ``tests/consent/test_batch_paths.py``
    compares the two on valid and invalid items."""

    def __init__(self):
        fields = EventInputSerializer().fields
        self.datetime_fields = {name: fields[name] for name in ("occurred_at", "expires_at")}
        self.moments: dict[tuple[str, str], object] = {}

    def moment(self, name: str, item: dict):
        """The parsed datetime (None when absent or null); raises ValueError when the field
        would not return it as is from a string."""
        value = item.get(name)
        if value is None:
            return None
        if type(value) is not str:
            raise ValueError(name)
        key = (name, value)
        if key not in self.moments:
            try:
                self.moments[key] = self.datetime_fields[name].run_validation(value)
            except serializers.ValidationError:
                self.moments[key] = None
        parsed = self.moments[key]
        if parsed is None:
            raise ValueError(name)
        return parsed

    def plain(self, item) -> EventInput | None:
        if type(item) is not dict:
            return None
        get = item.get
        namespace = get("namespace", DEFAULT_NAMESPACE)
        method = get("collection_method", CollectionMethod.API)
        notice = get("notice_version")
        key = get("idempotency_key")
        evidence = get("evidence", {})
        if not (
            _plain_text(get("subject_id"), 256)
            and _plain_text(get("purpose"), 64)
            and _plain_text(namespace, 64)
            and type(get("status")) is str
            and get("status") in _STATUSES
            and type(method) is str
            and method in _METHODS
            and (notice is None or (type(notice) is int and notice >= 1))
            and (key is None or _plain_text(key, 128))
            and _plain_evidence(evidence)
        ):
            return None
        try:
            occurred_at = self.moment("occurred_at", item)
            expires_at = self.moment("expires_at", item)
        except ValueError:
            return None
        return EventInput(
            subject_id=item["subject_id"],
            purpose=item["purpose"],
            status=item["status"],
            namespace=namespace,
            occurred_at=occurred_at,
            notice_version=notice,
            collection_method=method,
            expires_at=expires_at,
            evidence=dict(evidence),
            idempotency_key=key,
        )


def batch_events(items: list) -> list[EventInput]:
    """The batch's items as EventInputs, or BatchRejected naming every invalid item by index
    with the serializer's messages (nothing recorded)."""
    validation = _BatchValidation()
    events: list[EventInput] = []
    rejected: list[dict] = []
    for index, item in enumerate(items):
        event = validation.plain(item)
        if event is None:
            data = EventInputSerializer(data=item)
            if not data.is_valid():
                rejected.append({"index": index, "errors": data.errors})
                continue
            event = data.to_event()
        events.append(event)
    if rejected:
        raise services.BatchRejected(
            MSG_BATCH_INVALID.format(rejected=len(rejected), total=len(items)),
            {"items": rejected},
        )
    return events


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
        with cycle_collection_paused():
            results = services.consent_record_batch(events=batch_events(items), actor=request.user)
            return self._answer(results)

    @staticmethod
    def _answer(results) -> Response:
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
