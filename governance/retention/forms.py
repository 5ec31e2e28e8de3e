from django import forms

from datasets.models import Dataset
from governance.retention.models import RetentionPolicy


class PolicyForm(forms.Form):
    max_age_days = forms.IntegerField(
        required=False,
        label="Maximum age (days)",
        help_text="Rows older than this, by the event-time field. Empty: only the purposes' "
        "retention periods apply.",
    )
    grace_days = forms.IntegerField(required=False, initial=0, label="Grace period (days)")
    expires_on = forms.DateField(
        required=False,
        label="Dataset expiry date",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    action = forms.ChoiceField(choices=RetentionPolicy.Action.choices)
    subject_namespace = forms.CharField(max_length=64, initial="default")
    enabled = forms.BooleanField(required=False, initial=True, label="Enforce on schedule")


class HoldForm(forms.Form):
    dataset = forms.ModelChoiceField(
        queryset=Dataset.objects.order_by("slug"),
        to_field_name="slug",
        required=False,
        help_text="Leave empty to hold a subject in every dataset.",
    )
    namespace = forms.CharField(max_length=64, required=False, initial="default")
    external_id = forms.CharField(
        max_length=128, required=False, label="Subject id", help_text="Empty: the whole dataset."
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    reference = forms.CharField(max_length=200, required=False, label="Case reference")


class ErasureRequestForm(forms.Form):
    namespace = forms.CharField(max_length=64, initial="default")
    external_id = forms.CharField(max_length=128, label="Subject id")
    received_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    datasets = forms.ModelMultipleChoiceField(
        queryset=Dataset.objects.exclude(subject_id_field="").order_by("slug"),
        to_field_name="slug",
        required=False,
        help_text="Empty: every dataset with a subject-id field under a retention policy.",
    )
    reference = forms.CharField(max_length=200, required=False)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
