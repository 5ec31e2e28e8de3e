from __future__ import annotations

from django import forms


class RequestForm(forms.Form):
    namespace = forms.CharField(max_length=64, initial="default")
    subject_id = forms.CharField(max_length=128, label="Subject id")
    received_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    identity_verification = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="How you verified that the person asking is the subject (Art. 12(6)).",
    )
    reference = forms.CharField(max_length=200, required=False)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class CompleteForm(forms.Form):
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="How the package was sent (e.g. by post, through the customer account).",
    )
