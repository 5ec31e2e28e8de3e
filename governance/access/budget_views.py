"""Portal pages of the privacy-budget ledger (/access/budgets/): which datasets are under
differential privacy, and per dataset the budget over time (a chart of every data block:
spent, locked, left), the claims with who made them and who owns them, and — for whoever may
set it — the requirement form. Rules live in governance/access/policy.py."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from datasets.selectors import dataset_get_for
from governance.access import policy
from governance.access.models import BudgetClaim, BudgetRequirement
from governance.access.services import budget
from governance.accounts.principal import Principal
from governance.portal import attempt, domain_errors, refuse

MSG_SET = "Privacy budget set."
CHART_WIDTH, CHART_HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 40


class RequirementForm(forms.Form):
    purpose = forms.SlugField(
        max_length=64, required=False, help_text="Empty: every purpose shares the budget."
    )
    epsilon = forms.FloatField(help_text="Total ε per data block.")
    delta = forms.FloatField(required=False, initial=0.0, help_text="0 for pure ε-DP.")
    block_days = forms.IntegerField(
        required=False, min_value=1, help_text="Each period's data gets its own budget."
    )
    lock_seconds = forms.IntegerField(required=False, min_value=10)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


def budget_chart(requirement: BudgetRequirement, blocks: list[budget.Block], locked: dict) -> dict:
    """Bars per data block (time runs left to right): committed, locked and left, against the
    block's total ε. Drawn as SVG on the server; colours come from static/css/budget.css."""
    total = float(requirement.epsilon)
    width = CHART_WIDTH - LEFT - RIGHT
    height = CHART_HEIGHT - TOP - BOTTOM
    shown = blocks[-24:]
    slot = width / max(len(shown), 1)
    bar = max(min(slot * 0.7, 60), 4)

    def y(value: float) -> float:
        return round(TOP + height - height * min(value, total) / total, 1)

    bars = []
    for i, block in enumerate(shown):
        x = round(LEFT + i * slot + (slot - bar) / 2, 1)
        held = float(locked.get(block.index, 0))
        committed = max(float(block.epsilon_spent) - held, 0.0)
        label = block.starts_at.strftime("%Y-%m-%d")
        segments = []
        base = 0.0
        for kind, amount in (("committed", committed), ("locked", held)):
            if amount > 0:
                top = y(base + amount)
                segments.append(
                    {"kind": kind, "y": top, "height": round(y(base) - top, 1), "amount": amount}
                )
                base += amount
        bars.append(
            {
                "x": x,
                "width": round(bar, 1),
                "label": label,
                "label_x": round(x + bar / 2, 1),
                "segments": segments,
                "bg_y": TOP,
                "bg_height": height,
                "left": float(block.epsilon_remaining),
                "title": f"Block {block.index} (from {label}): {committed:g} committed, "
                f"{held:g} locked, {float(block.epsilon_remaining):g} left of {total:g}",
            }
        )
    gridlines = [{"y": y(total * step / 4), "label": f"{total * step / 4:g}"} for step in range(5)]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": LEFT,
        "right": CHART_WIDTH - RIGHT,
        "label_y": CHART_HEIGHT - BOTTOM + 18,
        "bars": bars,
        "gridlines": gridlines,
        "total": total,
    }


def _initial(requirement: BudgetRequirement | None) -> dict:
    if requirement is None:
        return {"delta": 0.0}
    return {
        "purpose": requirement.purpose_slug,
        "epsilon": float(requirement.epsilon),
        "delta": float(requirement.delta),
        "block_days": requirement.block_days,
        "lock_seconds": requirement.lock_seconds,
        "note": requirement.note,
    }


@login_required
@require_http_methods(["GET"])
@domain_errors
def budgets(request):
    from datasets.models import Dataset

    visible = Dataset.objects.filter(policy.budgets_visible_to(request.user))
    requirements = list(
        BudgetRequirement.objects.filter(retired_at=None, dataset__in=visible)
        .select_related("dataset")
        .order_by("dataset__slug")
    )
    now = budget.timezone.now()
    amounts = budget.live_claim_amounts(requirements, now)
    rows = []
    for requirement in requirements:
        blocks = budget.budget_blocks(requirement, now, amounts=amounts[requirement.pk])
        latest = blocks[-1] if blocks else None
        rows.append({"requirement": requirement, "latest": latest, "blocks": len(blocks)})
    return render(request, "access/budgets.html", {"rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def budget_detail(request, slug):
    dataset = dataset_get_for(viewer=request.user, slug=slug)
    can_set = policy.may_set_budget(request.user, dataset) is None
    if request.method == "POST":
        refuse(
            policy.may_set_budget(request.user, dataset),
            record="access.budget_requirement_refused",
            request=request,
            target=dataset,
        )
        form = RequirementForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            done, _ = attempt(
                request,
                lambda: budget.budget_requirement_set(
                    actor=request.user,
                    dataset=dataset,
                    purpose_slug=data["purpose"] or "",
                    epsilon=data["epsilon"],
                    delta=data["delta"] or 0.0,
                    block_days=data["block_days"],
                    lock_seconds=data["lock_seconds"],
                    note=data["note"],
                ),
                success=MSG_SET,
                form=form,
            )
            if done:
                return redirect("access:budget", slug=slug)
    requirement = BudgetRequirement.objects.filter(dataset=dataset, retired_at=None).first()
    if request.method != "POST":
        refuse(policy.may_view_budget(request.user, dataset))
        form = RequirementForm(initial=_initial(requirement))
    context = {"dataset": dataset, "form": form if can_set else None, "requirement": requirement}
    if requirement is not None:
        blocks = budget.budget_blocks(requirement)
        claims = list(requirement.claims.select_related("principal")[:500])
        locked: dict[int, float] = {}
        for claim in budget.live_claims(requirement, budget.timezone.now()).filter(
            status=BudgetClaim.Status.LOCKED
        ):
            for index in claim.blocks:
                locked[index] = locked.get(index, 0) + float(claim.epsilon)
        context.update(
            blocks=blocks,
            chart=budget_chart(requirement, blocks, locked),
            claims=[
                {
                    "claim": claim,
                    # a lapsed lock reads "expired" at once, as the API says (one rule)
                    "status": (status := budget.claim_status(claim)),
                    "status_label": BudgetClaim.Status(status).label,
                    "principal": Principal.of(user=claim.principal).label,
                    "owner": getattr(
                        Principal.of(user=claim.principal).accountable, "username", ""
                    ),
                }
                for claim in claims
            ],
        )
    return render(request, "access/budget.html", context)
