"""Portal forms of the registers: one per register, built from the model's fields (what a
complete entry needs is the service's business, so a refusal is always a ledger event)."""

from __future__ import annotations

from django import forms
from django.db import models

from consent.models import Purpose
from datasets.models import Dataset
from governance.registers.kinds import Kind
from governance.registers.models import Recipient

DATE = forms.DateInput(attrs={"type": "date"})
DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


def _purposes(**kwargs) -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        queryset=Purpose.objects.filter(status=Purpose.Status.ACTIVE).order_by("slug"),
        to_field_name="slug",
        required=False,
        **kwargs,
    )


def _formfield(field, **kwargs):
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return field.formfield(**kwargs)


def form_class(kind: Kind) -> type[forms.Form]:
    fields = forms.fields_for_model(
        kind.model, fields=list(kind.fields), formfield_callback=_formfield
    )
    for field in fields.values():
        field.required = False
        if isinstance(field, forms.DateTimeField):
            field.widget = DATETIME
            field.input_formats = DATETIME_FORMATS
            field.help_text = field.help_text or "UTC."
        elif isinstance(field, forms.DateField):
            field.widget = DATE
        elif isinstance(field, forms.CharField) and isinstance(field.widget, forms.Textarea):
            field.widget.attrs["rows"] = 3
    if "purposes" in fields:
        fields["purposes"] = _purposes()
    if "purpose" in fields:
        fields["purpose"] = forms.ModelChoiceField(
            queryset=Purpose.objects.filter(status=Purpose.Status.ACTIVE).order_by("slug"),
            to_field_name="slug",
            required=False,
        )
    if "datasets" in fields:
        fields["datasets"] = forms.ModelMultipleChoiceField(
            queryset=Dataset.objects.exclude(status=Dataset.Status.RETIRED).order_by("slug"),
            to_field_name="slug",
            required=False,
        )
    if "parent" in fields:
        fields["parent"] = forms.ModelChoiceField(
            queryset=Recipient.objects.filter(
                role__in=[Recipient.Role.PROCESSOR, Recipient.Role.SUB_PROCESSOR]
            ),
            required=False,
            help_text="For a sub-processor: the processor it works for.",
        )
    if "recipient" in fields:
        fields["recipient"] = forms.ModelChoiceField(
            queryset=Recipient.objects.all(), required=False
        )
    return type(f"{kind.entity.title()}Form", (forms.Form,), dict(fields))


def initial(kind: Kind, entry) -> dict:
    """An entry's values for its edit form."""
    values = forms.model_to_dict(entry, fields=list(kind.fields))
    if "purposes" in values:
        values["purposes"] = entry.purpose_slugs()
    if "datasets" in values:
        values["datasets"] = entry.dataset_slugs()
    if "purpose" in values:
        values["purpose"] = entry.purpose.slug
    return values


def service_arguments(kind: Kind, data: dict, *, creating: bool = False) -> dict:
    """The form's values as the service takes them (purposes and datasets by slug). Creating,
    a field left empty that has a default takes it (a new breach is open)."""
    arguments = {}
    for name in kind.fields:
        value = data.get(name)
        if creating and value in (None, "") and kind.model._meta.get_field(name).has_default():
            continue
        if name in ("purposes", "datasets"):
            value = [item.slug for item in value or []]
        elif name == "purpose":
            value = value.slug if value is not None else ""
        elif value is None and name not in ("parent",):
            value = _empty(kind, name)
        arguments[name] = value
    return arguments


def _empty(kind: Kind, name: str):
    field = kind.model._meta.get_field(name)
    if field.null:
        return None
    if field.get_internal_type() == "BooleanField":
        return False
    return ""


class ProcessingRecordForm(forms.Form):
    security_measures = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="The technical and organisational measures protecting this processing "
        "(Art. 30(1)(g), Art. 32).",
    )
    no_transfers = forms.BooleanField(
        required=False, label="No transfer to a third country (recorded as a fact)"
    )
    no_recipients = forms.BooleanField(
        required=False, label="No recipient outside the controller (recorded as a fact)"
    )
