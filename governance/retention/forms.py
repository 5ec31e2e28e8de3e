from django import forms

from datasets.models import Dataset
from governance.retention.models import RetentionPolicy, RetentionRun


class _UsualNamespace:
    """Namespace fields default to the namespace most subjects live in (demo data: shop), and
    suggest the known ones (a datalist), instead of a namespace nobody uses."""

    namespace_fields: tuple[str, ...] = ("namespace",)

    def _set_namespaces(self):
        from consent.selectors import known_namespaces

        known = known_namespaces()
        for name in self.namespace_fields:
            if name in self.fields:
                if known and not self.is_bound:
                    self.initial.setdefault(name, known[0])
                    self.fields[name].initial = known[0]
                self.fields[name].widget.attrs["list"] = "known-namespaces"
        self.known_namespaces = known


class PolicyForm(_UsualNamespace, forms.Form):
    namespace_fields = ("subject_namespace",)

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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.initial.get("subject_namespace"):
            self._set_namespaces()
        else:
            self.fields["subject_namespace"].widget.attrs["list"] = "known-namespaces"
            from consent.selectors import known_namespaces

            self.known_namespaces = known_namespaces()


class HoldForm(_UsualNamespace, forms.Form):
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._set_namespaces()


class ErasureRequestForm(_UsualNamespace, forms.Form):
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._set_namespaces()


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


MSG_CONFIRM_SLUG = "Type the dataset's slug, {slug}, to confirm."
MSG_CONFIRM_UNDERSTOOD = "Tick the box: the rows this run deletes cannot be brought back."


class RunConfirmForm(forms.Form):
    """ "Run now" repeats the dry run's counts and asks for the dataset's slug and a tick: a
    run deletes rows that no one can bring back."""

    kind = forms.ChoiceField(choices=RetentionRun.Kind.choices, widget=forms.HiddenInput)
    expected_rows = forms.IntegerField(min_value=0, required=False, widget=forms.HiddenInput)
    expected_files = forms.IntegerField(min_value=0, required=False, widget=forms.HiddenInput)
    # The criteria (and the latest run) the counts were read under: a stale page or a second
    # post of the same page is refused by the service (retention.policy.confirmation_refusal).
    fingerprint = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput)
    confirm = forms.CharField(max_length=100, required=False, label="Type the dataset's slug")
    understood = forms.BooleanField(
        required=False, label="I understand that the deleted rows cannot be brought back."
    )

    def __init__(self, *args, slug: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.slug = slug
        self.fields["confirm"].widget.attrs.update(
            {"data-confirm-text": slug, "autocomplete": "off", "data-testid": "confirm-slug"}
        )
        self.fields["understood"].widget.attrs["data-testid"] = "confirm-understood"

    def clean_confirm(self):
        value = (self.cleaned_data.get("confirm") or "").strip()
        if value != self.slug:
            raise forms.ValidationError(MSG_CONFIRM_SLUG.format(slug=self.slug))
        return value

    def clean_understood(self):
        if not self.cleaned_data.get("understood"):
            raise forms.ValidationError(MSG_CONFIRM_UNDERSTOOD)
        return True
