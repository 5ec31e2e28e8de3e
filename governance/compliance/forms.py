from __future__ import annotations

from django import forms

from governance.compliance.models import Export


class ExportForm(forms.Form):
    kind = forms.ChoiceField(choices=Export.Kind.choices)
    start = forms.DateTimeField(
        required=False,
        help_text="UTC. Needed for the audit log and the access report.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    end = forms.DateTimeField(
        required=False,
        help_text="UTC, exclusive.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    dataset = forms.SlugField(
        required=False, max_length=100, help_text="Dataset slug, for an evidence pack."
    )
    fmt = forms.ChoiceField(
        label="Format",
        required=False,
        choices=[("", "Default"), ("xlsx", "XLSX"), ("csv", "CSV"), ("zip", "ZIP")],
        help_text="RoPA: XLSX (default) or CSV. Registers: XLSX (default) or ZIP of CSV files.",
    )
