from __future__ import annotations

import re

from django import forms

from consent import policy, taxonomy
from consent.identifiers import DEFAULT_NAMESPACE, namespace_problem, subject_id_problem
from consent.models import MAX_CONSENT_VALIDITY_MONTHS
from consent.services import purpose_problems
from consent.services.purposes import MAX_RETENTION_DAYS, MSG_SLUG, SLUG
from consent.vocab import CollectionMethod, LegalBasis, SpecialCategoryCondition
from governance.accounts.models import User
from governance.forms import SignOffForm  # noqa: F401 - the purpose page's sign-off

_SPLIT = re.compile(r"[\n,]+")


def _items(value: str) -> list[str]:
    return [item.strip() for item in _SPLIT.split(value or "") if item.strip()]


class PurposeForm(forms.Form):
    """Create a purpose, or edit a draft. The rules live in services.purpose_problems; this
    form shows every problem at once, next to its field."""

    slug = forms.CharField(
        max_length=64, help_text="Stable identifier used by sources and jobs, e.g. churn-model"
    )
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    legal_basis = forms.ChoiceField(choices=LegalBasis.choices)
    consent_validity_months = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_CONSENT_VALIDITY_MONTHS,
        label="Consent validity (months)",
        help_text="Consent-based purposes only: consent counts as expired this long after it "
        "was given or renewed.",
    )
    withdrawal_method = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="How subjects withdraw (shown on receipts). Required for consent.",
    )
    data_categories = forms.MultipleChoiceField(
        widget=forms.SelectMultiple(
            attrs={"data-searchable": "data categories", "size": 10, "data-testid": "categories"}
        ),
        help_text="From the catalog's taxonomy; type to filter, Ctrl/Cmd-click to choose "
        "several. Categories marked Art. 9/10 are special categories.",
    )
    data_subject_categories = forms.CharField(
        help_text="Comma-separated, e.g. customer, newsletter_subscriber"
    )
    recipients = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One per line, e.g. Internal ML platform",
    )
    special_categories = forms.BooleanField(
        required=False, label="Processes special categories of data (Art. 9)"
    )
    special_category_condition = forms.ChoiceField(
        required=False,
        choices=[("", "—"), *SpecialCategoryCondition.choices],
        label="Art. 9(2) condition",
    )
    dpia_reference = forms.CharField(required=False, max_length=200, label="DPIA reference")
    retention_days = forms.IntegerField(min_value=1, max_value=MAX_RETENTION_DAYS)
    controller = forms.CharField(max_length=200)
    controller_contact = forms.CharField(
        max_length=254, help_text="Address or page of the controller or DPO"
    )
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(policy.purpose_owner_candidates())
        .distinct()
        .order_by("username"),
        to_field_name="username",
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["slug"]
        self.fields["data_categories"].choices = [
            (entry.key, f"{entry.key} — {entry.name}" + (" (Art. 9/10)" if entry.special else ""))
            for entry in taxonomy.entries()
        ]

    def clean_slug(self):
        slug = self.cleaned_data["slug"].strip()
        if not SLUG.match(slug) or len(slug) < 3:
            raise forms.ValidationError(MSG_SLUG)
        return slug

    def clean_data_subject_categories(self):
        return _items(self.cleaned_data["data_subject_categories"])

    def clean_recipients(self):
        return [
            line.strip()
            for line in (self.cleaned_data["recipients"] or "").splitlines()
            if line.strip()
        ]

    def clean(self):
        data = super().clean()
        fields = {name: data.get(name) for name in self.fields if name != "slug"}
        for name, message in purpose_problems(fields).items():
            if name in self.fields and name not in self.errors:
                self.add_error(name, message)
        return data

    @staticmethod
    def initial_from(purpose) -> dict:
        return {
            "name": purpose.name,
            "description": purpose.description,
            "legal_basis": purpose.legal_basis,
            "consent_validity_months": purpose.consent_validity_months,
            "withdrawal_method": purpose.withdrawal_method,
            "data_categories": list(purpose.data_categories),
            "data_subject_categories": ", ".join(purpose.data_subject_categories),
            "recipients": "\n".join(purpose.recipients),
            "special_categories": purpose.special_categories,
            "special_category_condition": purpose.special_category_condition,
            "dpia_reference": purpose.dpia_reference,
            "retention_days": purpose.retention_days,
            "controller": purpose.controller,
            "controller_contact": purpose.controller_contact,
            "owner": purpose.owner.username,
        }


class NoticeForm(forms.Form):
    text = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="The notice as subjects read it. Its SHA-256 is computed for you.",
    )
    url = forms.URLField(
        assume_scheme="https",
        required=False,
        max_length=500,
        label="URL",
        help_text="Or where it is published",
    )
    content_hash = forms.CharField(
        required=False,
        max_length=64,
        label="SHA-256 of the document at the URL",
        help_text="Needed when you give only a URL.",
    )
    language = forms.CharField(max_length=16, initial="en")
    effective_from = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="UTC. Empty means now.",
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=1000)


class SubjectLookupForm(forms.Form):
    namespace = forms.CharField(max_length=64, initial=DEFAULT_NAMESPACE)
    subject_id = forms.CharField(max_length=256, label="Subject id")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from consent.selectors import known_namespaces

        self.known_namespaces = known_namespaces()
        if self.known_namespaces and "namespace" not in self.initial:
            self.fields["namespace"].initial = self.known_namespaces[0]
        self.fields["namespace"].widget.attrs["list"] = "known-namespaces"

    def clean_namespace(self):
        value = self.cleaned_data["namespace"].strip()
        if problem := namespace_problem(value):
            raise forms.ValidationError(problem)
        return value

    def clean_subject_id(self):
        value = self.cleaned_data["subject_id"].strip()
        if problem := subject_id_problem(value):
            raise forms.ValidationError(problem)
        return value


# Channels a subject uses to ask a person to withdraw for them (Art. 7(3)); what the source
# systems send themselves (API, import) is not asked here.
WITHDRAWAL_CHANNELS = [
    (value, label)
    for value, label in CollectionMethod.choices
    if value in ("email", "verbal", "paper_form", "web_form", "mobile_app", "other")
]
MSG_WITHDRAW_REFERENCE = "Give the reference of the subject's request (ticket, letter or call id)."
MSG_WITHDRAW_UNDERSTOOD = "Tick the box: the withdrawal stops use at once and starts erasure."


class WithdrawForm(forms.Form):
    """A withdrawal on the subject's request: which channel the request came through and its
    reference are recorded with the event (the evidence of who asked)."""

    channel = forms.ChoiceField(
        choices=[("", "— how did the subject ask? —"), *WITHDRAWAL_CHANNELS],
        label="The subject asked by",
    )
    reference = forms.CharField(
        max_length=200,
        required=False,
        label="Reference of the request",
        help_text="The ticket, letter or call id, so the request can be found again.",
    )
    understood = forms.BooleanField(
        required=False,
        label="I confirm the subject asked to withdraw; training jobs stop using their data "
        "at once and their rows are erased.",
    )
    idempotency_key = forms.CharField(max_length=128, required=False, widget=forms.HiddenInput)

    def clean_reference(self):
        value = (self.cleaned_data.get("reference") or "").strip()
        if not value:
            raise forms.ValidationError(MSG_WITHDRAW_REFERENCE)
        return value

    def clean_understood(self):
        if not self.cleaned_data.get("understood"):
            raise forms.ValidationError(MSG_WITHDRAW_UNDERSTOOD)
        return True
