"""REST API of the catalog under /api/v1/datasets/. Same services and selectors as the portal,
so the same permission rules apply."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from datasets import selectors, services
from datasets.models import Dataset, Field
from datasets.services.catalog import CATEGORY_KEY
from datasets.services.scans import suggestions_accept
from datasets.taxonomy import Role, Special
from governance.accounts.models import User
from governance.api.pagination import PAGE_PARAMETERS, page_of, paginated
from governance.api.parsers import GuardedJSONParser
from governance.errors import ApplicationError

MSG_UNKNOWN_USER = "No active person named {username!r}."


def _person(username: str, field: str) -> User:
    user = User.objects.filter(username=username, kind=User.Kind.PERSON, is_active=True).first()
    if user is None:
        raise ApplicationError(MSG_UNKNOWN_USER.format(username=username), {"field": field})
    return user


class FieldOutput(serializers.Serializer):
    class Meta:
        ref_name = "DatasetField"

    name = serializers.CharField()
    data_type = serializers.CharField()
    description = serializers.CharField()
    category = serializers.CharField(source="category.key", allow_null=True, default=None)
    role = serializers.CharField()
    special_category = serializers.CharField()
    treatment = serializers.CharField()
    classification_source = serializers.CharField()
    classified_by = serializers.CharField(
        source="classified_by.username", allow_null=True, default=None
    )
    classified_at = serializers.DateTimeField(allow_null=True)


class ReviewOutput(serializers.Serializer):
    class Meta:
        ref_name = "DatasetReview"

    version = serializers.IntegerField()
    personal_fields_need = serializers.CharField()
    anonymization = serializers.CharField()
    access_and_duration = serializers.CharField()
    submitted_by = serializers.CharField(source="submitted_by.username")
    submitted_at = serializers.DateTimeField()
    decision = serializers.CharField()
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_note = serializers.CharField()


class DatasetOutput(serializers.Serializer):
    class Meta:
        ref_name = "Dataset"

    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    owner = serializers.CharField(source="owner.username")
    location = serializers.CharField()
    storage_kind = serializers.CharField()
    connection = serializers.CharField()
    subject_id_field = serializers.CharField()
    subject_namespace = serializers.CharField()
    event_time_field = serializers.CharField()
    tags = serializers.SerializerMethodField()
    status = serializers.CharField()
    sensitivity = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    approved_at = serializers.DateTimeField(allow_null=True)

    def get_tags(self, obj) -> list[str]:
        return sorted(tag.name for tag in obj.tags.all())


class DatasetDetailOutput(DatasetOutput):
    class Meta:
        ref_name = "DatasetDetail"

    stewards = serializers.SerializerMethodField()
    fields = serializers.SerializerMethodField(method_name="fields_of")
    reviews = serializers.SerializerMethodField()

    def get_stewards(self, obj) -> list[str]:
        return [u.username for u in services.dataset_stewards(obj)]

    def fields_of(self, obj) -> list[dict]:
        return FieldOutput(selectors.dataset_fields(dataset=obj), many=True).data

    def get_reviews(self, obj) -> list[dict]:
        return ReviewOutput(selectors.reviews_for(obj), many=True).data


class ScanOutput(serializers.Serializer):
    class Meta:
        ref_name = "Scan"

    id = serializers.IntegerField()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    source_kind = serializers.CharField()
    source_label = serializers.CharField()
    max_rows = serializers.IntegerField()
    rows_sampled = serializers.IntegerField()
    truncated = serializers.BooleanField()
    columns_total = serializers.IntegerField()
    columns_done = serializers.IntegerField()
    error_code = serializers.CharField()
    error_message = serializers.CharField()
    summary = serializers.DictField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class SuggestionClassificationOutput(serializers.Serializer):
    class Meta:
        ref_name = "SuggestionClassification"

    category = serializers.CharField(allow_null=True)
    role = serializers.CharField(help_text="Empty: the scanner left the column to a person.")
    special_category = serializers.CharField()
    treatment = serializers.CharField()


class SuggestionOutput(serializers.Serializer):
    """``category``, ``role``, ``special_category`` and ``treatment`` are the steward's choice
    once accepted or edited, the scanner's proposal before; ``proposal`` and ``decision`` give
    both separately."""

    class Meta:
        ref_name = "Suggestion"

    id = serializers.IntegerField()
    scan = serializers.IntegerField(source="scan_id")
    field = serializers.CharField(source="field.name")
    category = serializers.CharField(source="category.key", allow_null=True, default=None)
    role = serializers.CharField()
    special_category = serializers.CharField()
    treatment = serializers.CharField()
    confidence = serializers.FloatField()
    explanation = serializers.DictField()
    status = serializers.CharField()
    changes = serializers.DictField()
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    decided_at = serializers.DateTimeField(allow_null=True)
    proposal = serializers.SerializerMethodField()
    decision = serializers.SerializerMethodField()

    @extend_schema_field(SuggestionClassificationOutput)
    def get_proposal(self, obj) -> dict:
        return {
            "category": obj.category.key if obj.category else None,
            "role": obj.role,
            "special_category": obj.special_category,
            "treatment": obj.treatment,
        }

    @extend_schema_field(SuggestionClassificationOutput(allow_null=True))
    def get_decision(self, obj) -> dict | None:
        return obj.decision or None

    def to_representation(self, instance) -> dict:
        data = super().to_representation(instance)
        if instance.decision:  # accepted or edited: the answer is what the steward chose
            data.update(instance.decision)
        return data


class ClassificationInput(serializers.Serializer):
    class Meta:
        ref_name = "ClassificationInput"

    category = serializers.CharField(allow_blank=True, allow_null=True, required=False)
    role = serializers.ChoiceField(choices=Role.CHOICES)
    special_category = serializers.ChoiceField(choices=Special.CHOICES, required=False, default="")
    treatment = serializers.ChoiceField(choices=Field.Treatment.choices)


def _dataset(request, slug) -> Dataset:
    return selectors.dataset_get_for(viewer=request.user, slug=slug)


def _detail(dataset: Dataset) -> dict:
    dataset.refresh_from_db()
    return DatasetDetailOutput(dataset).data


class DatasetListApi(APIView):
    @extend_schema(
        operation_id="datasets_list",
        responses=paginated(DatasetOutput),
        parameters=[
            *PAGE_PARAMETERS,
            *(
                OpenApiParameter(name, str, required=False)
                for name in ("q", "status", "sensitivity", "owner", "tag", "category")
            ),
        ],
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        filters = selectors.DatasetFilters(
            **{
                key: params.get(key, "").strip()
                for key in ("q", "status", "sensitivity", "owner", "tag", "category")
            }
        )
        datasets = selectors.dataset_list(viewer=request.user, filters=filters)
        return page_of(request, datasets, DatasetOutput)


class DatasetCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DatasetCreateInput"

        slug = serializers.CharField(max_length=100)
        name = serializers.CharField(max_length=200)
        storage_kind = serializers.ChoiceField(choices=Dataset.StorageKind.choices)
        owner = serializers.CharField(required=False)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        location = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=1000
        )
        connection = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=100
        )
        subject_id_field = serializers.CharField(required=False, allow_blank=True, default="")
        subject_namespace = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=64
        )
        event_time_field = serializers.CharField(required=False, allow_blank=True, default="")
        tags = serializers.ListField(
            child=serializers.CharField(max_length=50), required=False, default=list
        )

    @extend_schema(
        operation_id="datasets_create",
        request=InputSerializer,
        responses={201: DatasetDetailOutput},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        owner = values.pop("owner", None)
        dataset = services.dataset_create(
            actor=request.user, owner=_person(owner, "owner") if owner else None, **values
        )
        return Response(_detail(dataset), status=201)


class DatasetDetailApi(APIView):
    @extend_schema(operation_id="datasets_detail", responses=DatasetDetailOutput)
    def get(self, request: Request, slug: str) -> Response:
        return Response(_detail(_dataset(request, slug)))


class DatasetUpdateApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DatasetUpdateInput"

        name = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(required=False, allow_blank=True)
        location = serializers.CharField(required=False, allow_blank=True, max_length=1000)
        storage_kind = serializers.ChoiceField(choices=Dataset.StorageKind.choices, required=False)
        connection = serializers.CharField(required=False, allow_blank=True, max_length=100)
        subject_id_field = serializers.CharField(required=False, allow_blank=True)
        subject_namespace = serializers.CharField(required=False, allow_blank=True, max_length=64)
        event_time_field = serializers.CharField(required=False, allow_blank=True)
        owner = serializers.CharField(required=False)
        tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)

    @extend_schema(
        operation_id="datasets_update", request=InputSerializer, responses=DatasetDetailOutput
    )
    def post(self, request: Request, slug: str) -> Response:
        dataset = _dataset(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "owner" in values:
            values["owner"] = _person(values["owner"], "owner")
        tags = values.pop("tags", None)
        dataset = services.dataset_update(actor=request.user, dataset=dataset, tags=tags, **values)
        return Response(_detail(dataset))


class DatasetStewardsApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DatasetStewardsInput"

        stewards = serializers.ListField(child=serializers.CharField(), allow_empty=True)

    @extend_schema(
        operation_id="datasets_stewards_set", request=InputSerializer, responses=DatasetDetailOutput
    )
    def post(self, request: Request, slug: str) -> Response:
        dataset = _dataset(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        users = [_person(name, "stewards") for name in data.validated_data["stewards"]]
        services.dataset_stewards_set(actor=request.user, dataset=dataset, stewards=users)
        return Response(_detail(dataset))


class DatasetSubmitApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DatasetSubmitInput"

        personal_fields_need = serializers.CharField(allow_blank=True)
        anonymization = serializers.CharField(allow_blank=True)
        access_and_duration = serializers.CharField(allow_blank=True)

    @extend_schema(
        operation_id="datasets_submit", request=InputSerializer, responses=DatasetDetailOutput
    )
    def post(self, request: Request, slug: str) -> Response:
        dataset = _dataset(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.dataset_submit(actor=request.user, dataset=dataset, **data.validated_data)
        return Response(_detail(dataset))


class _NoteInput(serializers.Serializer):
    class Meta:
        ref_name = "TransitionNoteInput"

    note = serializers.CharField(required=False, allow_blank=True, default="")


class _RequiredNoteInput(serializers.Serializer):
    """For transitions that need a reason: the schema says so (a non-blank string)."""

    class Meta:
        ref_name = "TransitionRequiredNoteInput"

    note = serializers.RegexField(
        r"\S", max_length=10_000, error_messages={"invalid": "Give a reason."}
    )


def _transition_api(name: str, call, *, note_required: bool = False):
    body = _RequiredNoteInput if note_required else _NoteInput

    class TransitionApi(APIView):
        @extend_schema(operation_id=f"datasets_{name}", request=body, responses=DatasetDetailOutput)
        def post(self, request: Request, slug: str) -> Response:
            dataset = _dataset(request, slug)
            data = body(data=request.data)
            data.is_valid(raise_exception=True)
            call(actor=request.user, dataset=dataset, text=data.validated_data["note"])
            return Response(_detail(dataset))

    TransitionApi.__name__ = f"Dataset{name.title()}Api"
    return TransitionApi


class DatasetApproveApi(APIView):
    """The legal sign-off. ``version`` names the review version the client approves: a version
    that is no longer the one in review is refused (409)."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DatasetApproveInput"

        note = serializers.CharField(required=False, allow_blank=True, default="")
        version = serializers.IntegerField(required=False, min_value=1)

    @extend_schema(
        operation_id="datasets_approve", request=InputSerializer, responses=DatasetDetailOutput
    )
    def post(self, request: Request, slug: str) -> Response:
        dataset = _dataset(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.dataset_approve(
            actor=request.user,
            dataset=dataset,
            note=data.validated_data["note"],
            version=data.validated_data.get("version"),
        )
        return Response(_detail(dataset))


DatasetReturnApi = _transition_api(
    "return",
    lambda actor, dataset, text: services.dataset_return(actor=actor, dataset=dataset, note=text),
    note_required=True,
)
DatasetReopenApi = _transition_api(
    "reopen",
    lambda actor, dataset, text: services.dataset_reopen(actor=actor, dataset=dataset, reason=text),
    note_required=True,
)
DatasetRetireApi = _transition_api(
    "retire",
    lambda actor, dataset, text: services.dataset_retire(actor=actor, dataset=dataset, reason=text),
    note_required=True,
)


class FieldCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FieldCreateInput"

        name = serializers.CharField(max_length=200)
        data_type = serializers.CharField(
            max_length=50, required=False, allow_blank=True, default=""
        )
        description = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="datasets_fields_create", request=InputSerializer, responses={201: FieldOutput}
    )
    def post(self, request: Request, slug: str) -> Response:
        dataset = _dataset(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        field = services.field_create(actor=request.user, dataset=dataset, **data.validated_data)
        return Response(FieldOutput(field).data, status=201)


class FieldClassifyApi(APIView):
    @extend_schema(
        operation_id="datasets_fields_classify", request=ClassificationInput, responses=FieldOutput
    )
    def post(self, request: Request, slug: str, name: str) -> Response:
        dataset = _dataset(request, slug)
        field = selectors.field_get_for(viewer=request.user, dataset=dataset, name=name)
        data = ClassificationInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        field = services.field_classify(
            actor=request.user,
            field=field,
            category=selectors.category_get(values.get("category")),
            role=values["role"],
            special_category=values["special_category"],
            treatment=values["treatment"],
        )
        return Response(FieldOutput(field).data)


class ScanCreateApi(APIView):
    """Start a scan: multipart with ``file``, or JSON with ``path`` or ``connection`` +
    ``table``. Answers 202 with the scan; poll it for progress."""

    parser_classes = [GuardedJSONParser, MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ScanCreateInput"

        file = serializers.FileField(required=False)
        path = serializers.CharField(required=False, allow_blank=True, default="")
        connection = serializers.CharField(required=False, allow_blank=True, default="")
        table = serializers.CharField(required=False, allow_blank=True, default="")
        max_rows = serializers.IntegerField(required=False, min_value=1)

    @extend_schema(
        operation_id="datasets_scans_create", request=InputSerializer, responses={202: ScanOutput}
    )
    def post(self, request: Request, slug: str) -> Response:
        dataset = _dataset(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        scan = services.scan_start(
            actor=request.user,
            dataset=dataset,
            upload=values.get("file"),
            path=values["path"],
            connection_name=values["connection"],
            table=values["table"],
            max_rows=values.get("max_rows"),
        )
        return Response(ScanOutput(scan).data, status=202)


class ScanDetailApi(APIView):
    @extend_schema(operation_id="datasets_scans_detail", responses=ScanOutput)
    def get(self, request: Request, slug: str, scan_id: int) -> Response:
        dataset = _dataset(request, slug)
        scan = selectors.scan_get_for(viewer=request.user, dataset=dataset, scan_id=scan_id)
        return Response(ScanOutput(scan).data)


class SuggestionListApi(APIView):
    @extend_schema(
        operation_id="datasets_suggestions_list",
        parameters=[*PAGE_PARAMETERS, OpenApiParameter("status", str, required=False)],
        responses=paginated(SuggestionOutput),
    )
    def get(self, request: Request, slug: str) -> Response:
        dataset = _dataset(request, slug)
        status = request.query_params.get("status", "suggested")
        queue = selectors.suggestion_queue(
            viewer=request.user, dataset=dataset, status="" if status == "all" else status
        )
        return page_of(request, queue, SuggestionOutput)


class SuggestionAcceptApi(APIView):
    @extend_schema(
        operation_id="datasets_suggestions_accept", request=None, responses=SuggestionOutput
    )
    def post(self, request: Request, suggestion_id: int) -> Response:
        suggestion = selectors.suggestion_get_for(viewer=request.user, suggestion_id=suggestion_id)
        suggestion = services.suggestion_accept(actor=request.user, suggestion=suggestion)
        return Response(SuggestionOutput(suggestion).data)


class SuggestionsAcceptApi(APIView):
    """Accept the selected suggestions of a dataset at once: all of them, or none."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SuggestionsAcceptInput"

        ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1), min_length=1, max_length=1000
        )

    @extend_schema(
        operation_id="datasets_suggestions_accept_selected",
        request=InputSerializer,
        responses=inline_serializer(
            name="AcceptedSuggestions", fields={"results": SuggestionOutput(many=True)}
        ),
    )
    def post(self, request: Request, slug: str) -> Response:
        dataset = _dataset(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        accepted = suggestions_accept(
            actor=request.user, dataset=dataset, suggestion_ids=data.validated_data["ids"]
        )
        return Response({"results": SuggestionOutput(accepted, many=True).data})


class SuggestionEditApi(APIView):
    class InputSerializer(ClassificationInput):
        class Meta:
            ref_name = "SuggestionEditInput"

        note = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="datasets_suggestions_edit",
        request=InputSerializer,
        responses=SuggestionOutput,
    )
    def post(self, request: Request, suggestion_id: int) -> Response:
        suggestion = selectors.suggestion_get_for(viewer=request.user, suggestion_id=suggestion_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        suggestion = services.suggestion_edit(
            actor=request.user,
            suggestion=suggestion,
            category=selectors.category_get(values.get("category")),
            role=values["role"],
            special_category=values["special_category"],
            treatment=values["treatment"],
            note=values["note"],
        )
        return Response(SuggestionOutput(suggestion).data)


class SuggestionRejectApi(APIView):
    @extend_schema(
        operation_id="datasets_suggestions_reject", request=_NoteInput, responses=SuggestionOutput
    )
    def post(self, request: Request, suggestion_id: int) -> Response:
        suggestion = selectors.suggestion_get_for(viewer=request.user, suggestion_id=suggestion_id)
        data = _NoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        suggestion = services.suggestion_reject(
            actor=request.user, suggestion=suggestion, note=data.validated_data["note"]
        )
        return Response(SuggestionOutput(suggestion).data)


class CategoryOutput(serializers.Serializer):
    class Meta:
        ref_name = "DataCategory"

    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    default_role = serializers.CharField()
    special_category = serializers.CharField()
    is_builtin = serializers.BooleanField()


class CategoryListApi(APIView):
    @extend_schema(
        operation_id="datasets_categories_list",
        parameters=PAGE_PARAMETERS,
        responses=paginated(CategoryOutput),
    )
    def get(self, request: Request) -> Response:
        return page_of(request, selectors.category_list(), CategoryOutput)


class CategoryCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DataCategoryCreateInput"

        # The taxonomy's key rule, stated in the schema (the service checks the same).
        key = serializers.RegexField(
            CATEGORY_KEY,
            max_length=200,
            error_messages={"invalid": "A category key is a dot path of lowercase words."},
        )
        name = serializers.CharField(max_length=200)
        default_role = serializers.ChoiceField(choices=Role.CHOICES)
        special_category = serializers.ChoiceField(
            choices=Special.CHOICES, required=False, default=""
        )
        description = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="datasets_categories_create",
        request=InputSerializer,
        responses={201: CategoryOutput},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        category = services.category_create(actor=request.user, **data.validated_data)
        return Response(CategoryOutput(category).data, status=201)
