"""Forms shared by every app's portal pages."""

from __future__ import annotations

from django import forms


class SignOffForm(forms.Form):
    """A legal sign-off: a note on record and a checklist (items from the app's policy)."""

    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        required=False,
        label="Sign-off note (on record)",
        help_text="What you checked and any condition of use.",
    )
    checklist = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple, required=False, label="I confirmed that"
    )

    def __init__(self, *args, items: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["checklist"].choices = items
