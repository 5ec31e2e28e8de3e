"""REST API under /api/v1/retention/: policies, dry runs, runs and certificates, legal holds,
erasure requests. Thin: validate → service or selector → serialize."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from datasets import policy as catalog
from datasets.models import Dataset
from governance.api.pagination import PAGE_PARAMETERS, page_of, paginated
from governance.audit import services as audit
from governance.errors import ApplicationError, NotFound
from governance.policy import require
from governance.retention import policy as rules
from governance.retention import selectors, services
from governance.retention.models import (
    ErasureRequest,
    LegalHold,
    RetentionPolicy,
    RetentionRun,
)

MSG_UNKNOWN_DATASETS = "Unknown dataset(s): {slugs}."
MSG_NO_POLICY = "The dataset has no retention policy."
MSG_NO_CERTIFICATE = "This run has no certificate (yet)."
MSG_BAD_KIND = "kind must be 'retention' or 'erasure'."


def _dataset(slug: str, viewer) -> Dataset:
    """The dataset named ``slug`` if the caller may see it in the catalog (404 otherwise, so
    names cannot be probed), for the writes whose service checks who may act: the service, not
    the view, refuses, so that the refusal is recorded in the ledger."""
    dataset = Dataset.objects.filter(slug=slug).first()
    if dataset is None or catalog.may_view(viewer, dataset) is not None:
        raise NotFound(services.MSG_NO_DATASET.format(slug=slug))
    return dataset


def _named_datasets(*, actor, slugs: list[str], field: str = "datasets") -> list[Dataset]:
    """The datasets a privacy officer named in a hold or an erasure request; who may act is
    checked first, and unknown slugs are refused (each refusal recorded by the decorators
    below, like the services' own)."""
    require(rules.may_handle_holds(actor))
    datasets = list(Dataset.objects.filter(slug__in=slugs))
    missing = sorted(set(slugs) - {d.slug for d in datasets})
    if missing:
        raise ApplicationError(
            MSG_UNKNOWN_DATASETS.format(slugs=", ".join(missing)), {"field": field}
        )
    return datasets


_hold_datasets = audit.records_refusal("retention.hold_refused", actor="actor")(_named_datasets)
_erasure_datasets = audit.records_refusal("retention.erasure_refused", actor="actor")(
    _named_datasets
)


class PolicySerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.slug", read_only=True)
    connection = serializers.CharField(
        source="dataset.connection",
        read_only=True,
        help_text="The dataset's connection (set in the catalog).",
    )
    updated_by = serializers.CharField(source="updated_by.username", read_only=True)

    class Meta:
        model = RetentionPolicy
        ref_name = "RetentionPolicy"
        fields = [
            "dataset",
            "max_age_days",
            "grace_days",
            "expires_on",
            "action",
            "connection",
            "subject_namespace",
            "enabled",
            "updated_by",
            "updated_at",
        ]


class RunSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.slug")
    requested_by = serializers.CharField(source="requested_by.username", allow_null=True)
    certificate_url = serializers.SerializerMethodField()

    class Meta:
        model = RetentionRun
        ref_name = "RetentionRun"
        fields = [
            "id",
            "dataset",
            "kind",
            "trigger",
            "status",
            "requested_by",
            "plan",
            "subjects_count",
            "subjects_sha256",
            "rows_deleted",
            "rows_anonymized",
            "files_deleted",
            "batches_done",
            "attempts",
            "error_code",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "certificate_url",
        ]

    def get_certificate_url(self, run: RetentionRun) -> str | None:
        if not hasattr(run, "certificate"):
            return None
        return f"/api/v1/retention/runs/{run.pk}/certificate"


class HoldSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.slug", allow_null=True)
    placed_by = serializers.CharField(source="placed_by.username")
    released_by = serializers.CharField(source="released_by.username", allow_null=True)

    class Meta:
        model = LegalHold
        ref_name = "LegalHold"
        fields = [
            "id",
            "dataset",
            "namespace",
            "external_id",
            "reason",
            "reference",
            "placed_by",
            "placed_at",
            "released_at",
            "released_by",
            "release_reason",
        ]


class ErasureRequestSerializer(serializers.ModelSerializer):
    targets = serializers.SerializerMethodField()
    days_left = serializers.SerializerMethodField()

    class Meta:
        model = ErasureRequest
        ref_name = "ErasureRequest"
        fields = [
            "id",
            "namespace",
            "external_id",
            "received_on",
            "due_on",
            "days_left",
            "extended",
            "extension_reason",
            "reference",
            "status",
            "rejection_reason",
            "created_at",
            "closed_at",
            "targets",
        ]

    def get_targets(self, request: ErasureRequest) -> list[dict]:
        return [
            {"dataset": t.dataset.slug, "status": t.status, "run": t.run_id}
            for t in request.targets.all()
        ]

    def get_days_left(self, request: ErasureRequest) -> int | None:
        return request.days_left() if request.status == ErasureRequest.Status.OPEN else None


class ReasonSerializer(serializers.Serializer):
    class Meta:
        ref_name = "RetentionReason"

    # Blank or missing: the service refuses with its own message and records the refusal.
    reason = serializers.CharField(max_length=5000, required=False, default="", allow_blank=True)


# --- policies, dry runs, runs ---------------------------------------------------------------


class PolicyApi(APIView):
    """GET the dataset's policy (404 when it has none); PUT replaces it."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RetentionPolicyInput"

        max_age_days = serializers.IntegerField(required=False, allow_null=True)
        grace_days = serializers.IntegerField(required=False, default=0)
        expires_on = serializers.DateField(required=False, allow_null=True)
        action = serializers.CharField(required=False, default="delete", max_length=16)
        connection = serializers.CharField(
            required=False, default="", allow_blank=True, max_length=100
        )
        subject_namespace = serializers.CharField(
            required=False,
            default="",
            allow_blank=True,
            max_length=64,
            help_text="The consent namespace of the dataset's subject ids; default: the "
            "dataset's own (catalog), else 'default'.",
        )
        enabled = serializers.BooleanField(required=False, default=True)

    @extend_schema(operation_id="retention_policy_get", responses=PolicySerializer)
    def get(self, request: Request, slug: str) -> Response:
        dataset = services.dataset_for(viewer=request.user, slug=slug)
        policy = RetentionPolicy.objects.filter(dataset=dataset).first()
        if policy is None:
            raise NotFound(MSG_NO_POLICY)
        return Response(PolicySerializer(policy).data)

    @extend_schema(
        operation_id="retention_policy_set", request=InputSerializer, responses=PolicySerializer
    )
    def put(self, request: Request, slug: str) -> Response:
        dataset = _dataset(slug, request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = services.policy_set(dataset=dataset, actor=request.user, **data.validated_data)
        return Response(PolicySerializer(policy).data)


class PreviewApi(APIView):
    """The dry run: what a run started now would delete. Changes nothing."""

    @extend_schema(
        operation_id="retention_preview",
        responses={200: OpenApiResponse(description="Counts per operation and the criteria.")},
    )
    def get(self, request: Request, slug: str) -> Response:
        dataset = _dataset(slug, request.user)
        kind = request.query_params.get("kind", RetentionRun.Kind.RETENTION)
        if kind not in RetentionRun.Kind.values:
            raise ApplicationError(MSG_BAD_KIND, {"field": "kind"})
        preview = services.retention_preview(dataset=dataset, viewer=request.user, kind=kind)
        return Response(preview)


class RunListApi(APIView):
    """GET a dataset's runs, newest first; POST starts one now (202)."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RetentionRunInput"

        kind = serializers.ChoiceField(
            choices=RetentionRun.Kind.values, required=False, default="retention"
        )

    @extend_schema(
        operation_id="retention_runs_list",
        parameters=PAGE_PARAMETERS,
        responses=paginated(RunSerializer),
    )
    def get(self, request: Request, slug: str) -> Response:
        dataset = services.dataset_for(viewer=request.user, slug=slug)
        return page_of(request, selectors.runs_for(dataset=dataset), RunSerializer)

    @extend_schema(
        operation_id="retention_run_start",
        request=InputSerializer,
        responses={202: RunSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        dataset = _dataset(slug, request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.run_start(dataset=dataset, actor=request.user, **data.validated_data)
        return Response(RunSerializer(run).data, status=202)


class RunDetailApi(APIView):
    @extend_schema(operation_id="retention_run_get", responses=RunSerializer)
    def get(self, request: Request, pk: int) -> Response:
        run = selectors.run_get_for(viewer=request.user, run_id=pk)
        return Response(RunSerializer(run).data)


class CertificateApi(APIView):
    """The run's deletion certificate as issued, with its SHA-256 (404 until issued)."""

    @extend_schema(
        operation_id="retention_certificate_get",
        responses={200: OpenApiResponse(description="{id, run, sha256, document}")},
    )
    def get(self, request: Request, pk: int) -> Response:
        run = selectors.run_get_for(viewer=request.user, run_id=pk)
        certificate = selectors.certificate_of(run)
        if certificate is None:
            raise NotFound(MSG_NO_CERTIFICATE)
        return Response(
            {
                "id": certificate.pk,
                "run": run.pk,
                "sha256": certificate.sha256,
                "issued_at": certificate.issued_at,
                "document": certificate.document,
            }
        )


# --- legal holds ----------------------------------------------------------------------------


class HoldListApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LegalHoldInput"

        dataset = serializers.CharField(required=False, allow_null=True, max_length=100)
        namespace = serializers.CharField(required=False, default="", allow_blank=True)
        external_id = serializers.CharField(
            required=False, default="", allow_blank=True, max_length=128
        )
        reason = serializers.CharField(
            max_length=5000, required=False, default="", allow_blank=True
        )
        reference = serializers.CharField(
            required=False, default="", allow_blank=True, max_length=200
        )

    @extend_schema(
        operation_id="retention_holds_list",
        parameters=PAGE_PARAMETERS,
        responses=paginated(HoldSerializer),
    )
    def get(self, request: Request) -> Response:
        active = request.query_params.get("active") in ("1", "true")
        holds = selectors.holds_visible(viewer=request.user, active_only=active)
        return page_of(request, holds, HoldSerializer)

    @extend_schema(
        operation_id="retention_hold_place",
        request=InputSerializer,
        responses={201: HoldSerializer},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        slug = values.pop("dataset", None)
        dataset = None
        if slug:
            (dataset,) = _hold_datasets(actor=request.user, slugs=[slug], field="dataset")
        hold = services.hold_place(actor=request.user, dataset=dataset, **values)
        return Response(HoldSerializer(hold).data, status=201)


class HoldReleaseApi(APIView):
    @extend_schema(
        operation_id="retention_hold_release", request=ReasonSerializer, responses=HoldSerializer
    )
    def post(self, request: Request, pk: int) -> Response:
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        hold = services.hold_release(
            hold_id=pk, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(HoldSerializer(hold).data)


# --- erasure requests -----------------------------------------------------------------------


class ErasureRequestListApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ErasureRequestInput"

        namespace = serializers.CharField(required=False, default="default", max_length=64)
        external_id = serializers.CharField(max_length=128)
        received_on = serializers.DateField()
        datasets = serializers.ListField(
            child=serializers.CharField(max_length=100), required=False, default=list
        )
        reference = serializers.CharField(
            required=False, default="", allow_blank=True, max_length=200
        )
        note = serializers.CharField(required=False, default="", allow_blank=True)

    @extend_schema(
        operation_id="retention_erasure_requests_list",
        parameters=PAGE_PARAMETERS,
        responses=paginated(ErasureRequestSerializer),
    )
    def get(self, request: Request) -> Response:
        requests = selectors.erasure_requests_visible(viewer=request.user)
        status = request.query_params.get("status")
        if status:
            requests = requests.filter(status=status)
        return page_of(request, requests, ErasureRequestSerializer)

    @extend_schema(
        operation_id="retention_erasure_request_create",
        request=InputSerializer,
        responses={201: ErasureRequestSerializer},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        slugs = values.pop("datasets")
        datasets = _erasure_datasets(actor=request.user, slugs=slugs) if slugs else []
        created = services.erasure_request_create(
            actor=request.user, datasets=datasets or None, **values
        )
        return Response(ErasureRequestSerializer(created).data, status=201)


class ErasureRequestDetailApi(APIView):
    @extend_schema(operation_id="retention_erasure_request_get", responses=ErasureRequestSerializer)
    def get(self, request: Request, pk: int) -> Response:
        found = selectors.erasure_request_get_for(viewer=request.user, request_id=pk)
        return Response(ErasureRequestSerializer(found).data)


class ErasureRequestExtendApi(APIView):
    @extend_schema(
        operation_id="retention_erasure_request_extend",
        request=ReasonSerializer,
        responses=ErasureRequestSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        found = services.erasure_request_extend(
            request_id=pk, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(ErasureRequestSerializer(found).data)


class ErasureRequestRejectApi(APIView):
    @extend_schema(
        operation_id="retention_erasure_request_reject",
        request=ReasonSerializer,
        responses=ErasureRequestSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        found = services.erasure_request_reject(
            request_id=pk, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(ErasureRequestSerializer(found).data)
