"""Output shapes shared by several consent APIs."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import serializers

from consent.models import ConsentEvent, ConsentState
from consent.vocab import CONSENT_STATUS_DPV, ConsentStatus


class SubjectRefSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ConsentSubjectRef"

    namespace = serializers.CharField()
    id = serializers.CharField(source="external_id")


class PurposeRefSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ConsentPurposeRef"

    slug = serializers.CharField()
    version = serializers.IntegerField()


class EventOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ConsentEvent"

    id = serializers.IntegerField()
    subject = SubjectRefSerializer()
    purpose = PurposeRefSerializer()
    status = serializers.CharField()
    status_iri = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    valid_until = serializers.DateTimeField(allow_null=True)
    notice_version = serializers.IntegerField(source="notice.version", allow_null=True)
    collection_method = serializers.CharField()
    evidence = serializers.DictField(child=serializers.CharField())
    recorded_by = serializers.CharField(source="recorded_by.username", allow_null=True)
    idempotency_key = serializers.CharField(allow_null=True)


class StateOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ConsentState"

    purpose = PurposeRefSerializer()
    record_id = serializers.UUIDField()
    status = serializers.CharField()
    status_iri = serializers.SerializerMethodField()
    effective_status = serializers.SerializerMethodField()
    valid = serializers.SerializerMethodField()
    since = serializers.DateTimeField(source="occurred_at")
    valid_until = serializers.DateTimeField(allow_null=True)
    event_id = serializers.IntegerField()

    def _now(self):
        return self.context.setdefault("now", timezone.now())

    def get_status_iri(self, state: ConsentState) -> str:
        return CONSENT_STATUS_DPV[ConsentStatus(state.status)]

    def get_effective_status(self, state: ConsentState) -> str:
        return state.effective_status(self._now())

    def get_valid(self, state: ConsentState) -> bool:
        return state.is_valid(self._now())


def event_data(event: ConsentEvent) -> dict:
    return EventOutputSerializer(event).data
