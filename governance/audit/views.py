"""The auditor portal: search the ledger, read one entry with its diff and chain proof, see the
latest checkpoint. Read-only: nothing here changes anything."""

from __future__ import annotations

import json

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from governance.audit import policy, selectors
from governance.portal import domain_errors, refuse

PAGE_SIZE = 50
MSG_END_BEFORE_START = "The end must be after the start."
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


class LedgerFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150)
    dataset = forms.CharField(required=False, max_length=100)
    purpose = forms.CharField(required=False, max_length=100)
    event = forms.CharField(
        required=False, max_length=100, help_text='Exact, or a prefix ending in "." (auth.)'
    )
    start = forms.DateTimeField(
        required=False,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    end = forms.DateTimeField(
        required=False,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    decision = forms.ChoiceField(
        required=False,
        choices=[("", "Any decision"), *((d, d) for d in selectors.DECISIONS)],
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end <= start:
            self.add_error("end", MSG_END_BEFORE_START)
        return data


@login_required
@require_GET
@domain_errors
def log(request):
    refuse(policy.may_read_ledger(request.user))
    form = LedgerFilterForm(request.GET or None)
    filters = {}
    if form.is_bound and form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v not in ("", None)}
    entries = selectors.ledger_search(viewer=request.user, **filters)
    if form.is_bound and not form.is_valid():
        entries = entries.none()
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/log.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "checkpoint": selectors.latest_checkpoint(),
        },
    )


@login_required
@require_GET
@domain_errors
def entry(request, pk: int):
    item = selectors.ledger_entry_get_for(viewer=request.user, pk=pk)
    proof = selectors.entry_chain_proof(viewer=request.user, entry=item)
    return render(
        request,
        "audit/entry.html",
        {
            "entry": item,
            "diff": _diff_rows(item.changes),
            "additional_data": json.dumps(item.additional_data, indent=2, sort_keys=True)
            if item.additional_data
            else "",
            "proof": proof,
        },
    )


def _diff_rows(changes) -> list[tuple[str, str, str]]:
    """django-auditlog's diff ``{"field": [before, after]}`` as rows; other shapes (m2m
    changes) are shown as JSON."""
    if isinstance(changes, str):
        try:
            changes = json.loads(changes)
        except ValueError:
            return []
    if not isinstance(changes, dict):
        return []
    rows = []
    for field, change in sorted(changes.items()):
        if isinstance(change, list | tuple) and len(change) == 2:
            before, after = change
        else:
            before, after = "", change
        rows.append((field, _show(before), _show(after)))
    return rows


def _show(value) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)
