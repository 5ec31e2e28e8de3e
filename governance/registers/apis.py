"""REST API under /api/v1/registers/: for each register (recipients, transfers, dpias, lias,
breaches) a list, a create, a detail and an update operation, and the processing records per
purpose. Bodies are validated (a refusal is a ledger event too), then the service decides."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api.pagination import PAGE_PARAMETERS, page_of, paginated
from governance.audit.services import record_refusal
from governance.errors import ApplicationError
from governance.registers import policy, selectors, services
from governance.registers.kinds import KINDS, Kind
from governance.registers.models import (
    Breach,
    LegitimateInterestAssessment,
    ProcessingRecord,
    Recipient,
    Transfer,
)

MSG_INVALID = "The request body is not valid: see details for each field."


def _require_keeper(request: Request, entity: str, target=None) -> None:
    refusal = policy.may_keep(request.user)
    if refusal is not None:
        error = refusal.error()
        record_refusal(f"registers.{entity}_refused", error, target=target, actor=request.user)
        raise error


def _validated(serializer, request: Request, entity: str, target=None) -> dict:
    """The body's fields as given (unset ones left out); an invalid body is a recorded 400."""
    if not serializer.is_valid():
        problems = {
            name: " ".join(str(m) for m in (messages if isinstance(messages, list) else [messages]))
            for name, messages in serializer.errors.items()
        }
        name = next(iter(problems))
        error = ApplicationError(problems[name], {"field": name, "fields": problems})
        record_refusal(f"registers.{entity}_refused", error, target=target, actor=request.user)
        raise error
    return dict(serializer.validated_data)


# --- serializers ------------------------------------------------------------------------------


class _Output(serializers.ModelSerializer):
    def get_purposes(self, entry) -> list[str]:
        return entry.purpose_slugs()

    def get_datasets(self, entry) -> list[str]:
        return entry.dataset_slugs()


class RecipientOutputSerializer(_Output):
    purposes = serializers.SerializerMethodField()

    class Meta:
        model = Recipient
        ref_name = "RegisterRecipient"
        fields = ["id", *services.RECIPIENT_FIELDS, "created_at", "updated_at"]


class TransferOutputSerializer(_Output):
    purposes = serializers.SerializerMethodField()
    safeguard_label = serializers.CharField(source="get_safeguard_display")

    class Meta:
        model = Transfer
        ref_name = "RegisterTransfer"
        fields = ["id", *services.TRANSFER_FIELDS, "safeguard_label", "created_at", "updated_at"]


class DpiaOutputSerializer(_Output):
    purposes = serializers.SerializerMethodField()
    datasets = serializers.SerializerMethodField()
    review_overdue = serializers.BooleanField()

    class Meta:
        model = KINDS["dpias"].model
        ref_name = "RegisterDpia"
        fields = ["id", *services.DPIA_FIELDS, "review_overdue", "created_at", "updated_at"]


class LiaOutputSerializer(_Output):
    purpose = serializers.CharField(source="purpose.slug")

    class Meta:
        model = LegitimateInterestAssessment
        ref_name = "RegisterLia"
        fields = ["id", *services.LIA_FIELDS, "created_at", "updated_at"]


class BreachOutputSerializer(_Output):
    datasets = serializers.SerializerMethodField()
    authority_deadline = serializers.DateTimeField()
    authority_notified_late = serializers.BooleanField()
    authority_overdue = serializers.SerializerMethodField()
    hours_to_deadline = serializers.SerializerMethodField()

    class Meta:
        model = Breach
        ref_name = "RegisterBreach"
        fields = [
            "id",
            *services.BREACH_FIELDS,
            "authority_deadline",
            "authority_notified_late",
            "authority_overdue",
            "hours_to_deadline",
            "closed_at",
            "created_at",
            "updated_at",
        ]

    def get_authority_overdue(self, breach: Breach) -> bool:
        return breach.authority_overdue()

    def get_hours_to_deadline(self, breach: Breach) -> int | None:
        return breach.hours_to_deadline()


OUTPUT = {
    "recipients": RecipientOutputSerializer,
    "transfers": TransferOutputSerializer,
    "dpias": DpiaOutputSerializer,
    "lias": LiaOutputSerializer,
    "breaches": BreachOutputSerializer,
}


def _input_serializer(kind: Kind) -> type[serializers.Serializer]:
    """Every field optional: the service says what a complete entry needs, and an update
    changes only the fields given."""
    overrides: dict[str, Any] = {
        "purposes": serializers.ListField(
            child=serializers.CharField(max_length=64), required=False, max_length=100
        ),
        "datasets": serializers.ListField(
            child=serializers.CharField(max_length=100), required=False, max_length=500
        ),
        "parent": serializers.IntegerField(required=False, allow_null=True, min_value=1),
        "recipient": serializers.IntegerField(required=False, min_value=1),
        "purpose": serializers.CharField(required=False, max_length=64),
    }
    names = [name for name in kind.fields if name not in overrides]
    meta = type(
        "Meta",
        (),
        {
            "model": kind.model,
            "fields": list(kind.fields),
            "ref_name": f"Register{kind.entity.title()}Input",
            # uniqueness and the rest of the model's rules are the service's business
            "extra_kwargs": {name: {"required": False, "validators": []} for name in names},
            "validators": [],
        },
    )
    attrs = {"Meta": meta, **{k: v for k, v in overrides.items() if k in kind.fields}}
    return type(f"{kind.entity.title()}InputSerializer", (serializers.ModelSerializer,), attrs)


# --- views ------------------------------------------------------------------------------------


def _views(kind: Kind) -> dict[str, type[APIView]]:
    output = OUTPUT[kind.slug]
    inputs = _input_serializer(kind)
    name = kind.entity.title()

    @extend_schema(
        operation_id=f"registers_{kind.slug}_list",
        parameters=PAGE_PARAMETERS,
        responses=paginated(output),
    )
    def list_get(self, request: Request) -> Response:
        entries = selectors.entries_visible(viewer=request.user, kind=kind.slug)
        return page_of(request, entries, output)

    @extend_schema(
        operation_id=f"registers_{kind.slug}_create",
        request=inputs,
        responses={201: output},
    )
    def create_post(self, request: Request) -> Response:
        _require_keeper(request, kind.entity)
        fields = _validated(inputs(data=request.data), request, kind.entity)
        entry = kind.create(actor=request.user, **fields)
        return Response(output(entry).data, status=201)

    @extend_schema(operation_id=f"registers_{kind.slug}_get", responses=output)
    def detail_get(self, request: Request, pk: int) -> Response:
        entry = services.entry_get_for(viewer=request.user, kind=kind.slug, pk=pk)
        return Response(output(entry).data)

    @extend_schema(operation_id=f"registers_{kind.slug}_update", request=inputs, responses=output)
    def update_post(self, request: Request, pk: int) -> Response:
        entry = services.entry_get_for(viewer=request.user, kind=kind.slug, pk=pk)
        _require_keeper(request, kind.entity, target=entry)
        fields = _validated(inputs(data=request.data, partial=True), request, kind.entity, entry)
        entry = kind.update(actor=request.user, **{kind.target: entry}, **fields)
        return Response(output(entry).data)

    return {
        "list": type(f"{name}ListApi", (APIView,), {"get": list_get}),
        "create": type(f"{name}CreateApi", (APIView,), {"post": create_post}),
        "detail": type(f"{name}DetailApi", (APIView,), {"get": detail_get}),
        "update": type(f"{name}UpdateApi", (APIView,), {"post": update_post}),
    }


VIEWS = {slug: _views(kind) for slug, kind in KINDS.items()}


class ProcessingRecordOutputSerializer(serializers.ModelSerializer):
    purpose = serializers.CharField(source="purpose_slug")
    updated_by = serializers.CharField(source="updated_by.username")

    class Meta:
        model = ProcessingRecord
        ref_name = "RegisterProcessingRecord"
        fields = [
            "purpose",
            "security_measures",
            "no_transfers",
            "no_recipients",
            "updated_by",
            "updated_at",
        ]


class ProcessingRecordListApi(APIView):
    @extend_schema(
        operation_id="registers_processing_list",
        parameters=PAGE_PARAMETERS,
        responses=paginated(ProcessingRecordOutputSerializer),
    )
    def get(self, request: Request) -> Response:
        records = selectors.processing_records_visible(viewer=request.user)
        return page_of(request, records, ProcessingRecordOutputSerializer)


class ProcessingRecordSetApi(APIView):
    """Record a purpose's security measures and a confirmed absence of transfers or
    recipients (privacy officers)."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RegisterProcessingRecordInput"

        security_measures = serializers.CharField(
            required=False, allow_blank=True, max_length=10000
        )
        no_transfers = serializers.BooleanField(required=False)
        no_recipients = serializers.BooleanField(required=False)

    @extend_schema(
        operation_id="registers_processing_set",
        request=InputSerializer,
        responses=ProcessingRecordOutputSerializer,
    )
    def post(self, request: Request, slug: str) -> Response:
        _require_keeper(request, "processing_record")
        fields = _validated(self.InputSerializer(data=request.data), request, "processing_record")
        record = services.processing_record_set(actor=request.user, purpose=slug, **fields)
        return Response(ProcessingRecordOutputSerializer(record).data)
