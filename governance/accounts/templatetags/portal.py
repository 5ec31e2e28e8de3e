"""Template helpers shared by every portal page: sortable column headers and pagination
(governance.tables), and small bar charts drawn as SVG on the server (no script, no CDN)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def sort_th(listing, key: str, label: str):
    """A column header that sorts the list; announces the current order (aria-sort)."""
    query, state = listing.sort_link(key)
    arrow = {"ascending": " ▲", "descending": " ▼"}.get(state or "", "")
    aria = format_html(' aria-sort="{}"', state) if state else ""
    return format_html(
        '<th scope="col"{}><a href="?{}" data-sort="{}">{}'
        '<span aria-hidden="true">{}</span></a></th>',
        aria,
        query,
        key,
        label,
        arrow,
    )


@register.simple_tag(takes_context=True)
def forms_with_errors(context) -> list:
    """Every bound form on the page that failed (any name: ``form``, ``signoff_form``…): the
    base template prefixes the title with "Error: " and puts one summary of their errors,
    linked to the fields, at the top of the page."""
    from django.forms import BaseForm

    found, seen = [], set()
    for layer in context.dicts:
        for value in layer.values():
            if isinstance(value, BaseForm) and id(value) not in seen and value.is_bound:
                seen.add(id(value))
                if value.errors:
                    found.append(value)
    return found


@register.inclusion_tag("_pagination.html")
def pagination(listing):
    return {"listing": listing, "page": listing.page}


@register.inclusion_tag("_bar_chart.svg")
def bar_chart(
    bars,
    *,
    title: str,
    unit: str = "",
    height: int = 160,
    testid: str = "chart",
    second: str = "",
):
    """Vertical bars for ``bars`` = [(label, value), ...] or [(label, value, value2), ...]
    (``value2`` stacked on top, named ``second``): at most a few dozen bars."""
    bars = [tuple(bar) + (0,) * (3 - len(bar)) for bar in bars]
    width = max(320, 28 * len(bars) + 40)
    top = max((value + extra for _, value, extra in bars), default=0) or 1
    plot = height - 40
    step = (width - 40) / max(len(bars), 1)
    shapes = []
    for index, (label, value, extra) in enumerate(bars):
        bar_height = round(plot * value / top, 1)
        extra_height = round(plot * extra / top, 1)
        x = round(30 + index * step, 1)
        shapes.append(
            {
                "x": x,
                "y": round(10 + plot - bar_height, 1),
                "width": round(max(step - 6, 4), 1),
                "height": bar_height,
                "extra_y": round(10 + plot - bar_height - extra_height, 1),
                "extra_height": extra_height,
                "extra": extra,
                "label": label,
                "value": value,
                "label_x": round(x + max(step - 6, 4) / 2, 1),
            }
        )
    return {
        "bars": shapes,
        "title": title,
        "unit": unit,
        "width": width,
        "height": height,
        "base": 10 + plot,
        "top": top,
        "testid": testid,
        "show_every": max(1, len(bars) // 12),
        "second": second,
    }
