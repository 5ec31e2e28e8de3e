from __future__ import annotations

from django import forms

from datasets.models import DataCategory, Dataset, Field
from datasets.services.lifecycle import QUESTIONS
from datasets.taxonomy import Role, Special
from governance.accounts.models import User


def _people():
    return User.objects.filter(kind=User.Kind.PERSON, is_active=True).order_by("username")


class DatasetFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *Dataset.Status.choices]
    )
    sensitivity = forms.ChoiceField(
        required=False, choices=[("", "Any sensitivity"), *Dataset.Sensitivity.choices]
    )
    owner = forms.CharField(required=False)
    tag = forms.CharField(required=False)
    category = forms.CharField(required=False, help_text="A taxonomy key, e.g. user.contact")
    mine = forms.BooleanField(required=False, label="Only datasets I steward")


class DatasetForm(forms.Form):
    slug = forms.SlugField(max_length=100)
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    owner = forms.ModelChoiceField(
        queryset=_people(),
        to_field_name="username",
        required=False,
        help_text="Accountable business owner (default: you).",
    )
    storage_kind = forms.ChoiceField(choices=Dataset.StorageKind.choices)
    location = forms.CharField(
        max_length=1000,
        required=False,
        help_text="A file or folder path, schema.table, or a URI: where the data lives. A "
        "location belongs to one dataset only.",
    )
    connection = forms.CharField(
        max_length=100,
        required=False,
        help_text="PostgreSQL tables: the configured connection of the table's database.",
    )
    subject_id_field = forms.CharField(max_length=200, required=False)
    subject_namespace = forms.CharField(
        max_length=64,
        required=False,
        help_text="The consent registry's namespace of the subject ids (e.g. shop).",
    )
    event_time_field = forms.CharField(max_length=200, required=False)
    tags = forms.CharField(required=False, help_text="Comma-separated.")

    def clean_tags(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data["tags"].split(",") if t.strip()]


class DatasetEditForm(DatasetForm):
    """Where the dataset lives is editable only in draft (datasets.policy.may_change): outside
    draft those fields are shown, disabled, with the reason."""

    LOCATION_FIELDS = (
        "storage_kind",
        "location",
        "connection",
        "subject_id_field",
        "subject_namespace",
        "event_time_field",
    )

    def __init__(self, *args, location_editable: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["slug"]
        if not location_editable:
            for name in self.LOCATION_FIELDS:
                self.fields[name].disabled = True
                self.fields[name].help_text = "Reopen the dataset to change this (new review)."


class FieldForm(forms.Form):
    # The name's rules are the service's (datasets.policy.field_name_problem).
    name = forms.CharField(required=False, strip=False)
    data_type = forms.CharField(max_length=50, required=False)
    description = forms.CharField(required=False)


class ClassificationForm(forms.Form):
    category = forms.ModelChoiceField(
        queryset=DataCategory.objects.order_by("key"),
        to_field_name="key",
        required=False,
        empty_label="— none (not personal) —",
    )
    role = forms.ChoiceField(choices=Role.CHOICES)
    special_category = forms.ChoiceField(choices=Special.CHOICES, required=False)
    treatment = forms.ChoiceField(choices=Field.Treatment.choices)
    description = forms.CharField(required=False)


class SubmitForm(forms.Form):
    personal_fields_need = forms.CharField(
        label=QUESTIONS["personal_fields_need"], widget=forms.Textarea(attrs={"rows": 4})
    )
    anonymization = forms.CharField(
        label=QUESTIONS["anonymization"], widget=forms.Textarea(attrs={"rows": 4})
    )
    access_and_duration = forms.CharField(
        label=QUESTIONS["access_and_duration"], widget=forms.Textarea(attrs={"rows": 3})
    )


class NoteForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class StewardsForm(forms.Form):
    stewards = forms.ModelMultipleChoiceField(queryset=_people(), to_field_name="username")


class ScanForm(forms.Form):
    file = forms.FileField(required=False, help_text="CSV, JSON Lines or Parquet.")
    path = forms.CharField(required=False, help_text="Or a file under the allowed folders.")
    connection = forms.CharField(required=False, help_text="Or a configured connection name…")
    table = forms.CharField(required=False, help_text="…and a table as schema.table.")
    max_rows = forms.IntegerField(required=False, min_value=1)
