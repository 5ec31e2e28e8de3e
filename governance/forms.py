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

    # What the signer is looking at: the version and a fingerprint of its contents (the app's
    # policy, ``signoff_subject``); the service refuses a sign-off of anything else.
    version = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    fingerprint = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(
        self, *args, items: list[tuple[str, str]], subject: tuple[int, str] | None = None, **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.fields["checklist"].choices = items
        if subject is not None:
            self.initial["version"], self.initial["fingerprint"] = subject

    @classmethod
    def again(cls, data, *, items, subject, error: str) -> SignOffForm:
        """The form shown when what was signed changed: the note kept, the checklist cleared
        (it was ticked for something else), the new version and fingerprint, and the error."""
        data = data.copy()
        data.setlist("checklist", [])
        data["version"], data["fingerprint"] = subject
        form = cls(data, items=items)
        form.is_valid()
        form.add_error(None, error)
        return form
