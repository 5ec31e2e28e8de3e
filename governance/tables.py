"""Sortable, paginated lists for portal pages: one helper so every list sorts, pages and
keeps its filters the same way, with a query count that does not grow with the rows.

``listing(request, queryset, sorts={"name": "name", "owner": "owner__username"},
default="name")`` reads ``?sort=`` (a key, ``-`` for descending) and ``?page=``; an unknown
key falls back to the default and a page past the end shows the last page — never an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.db.models import F, QuerySet

PER_PAGE = 25


@dataclass
class Listing:
    page: Page
    sort: str
    sorts: Sequence[str]
    params: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self):
        return self.page.object_list

    def query(self, **changes) -> str:
        """The current query string with ``changes`` applied (None removes a key)."""
        params = dict(self.params)
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = str(value)
        return urlencode(params)

    def sort_link(self, key: str) -> tuple[str, str | None]:
        """The query that sorts by ``key`` (toggling direction when it is the current one) and
        the column's current aria-sort value."""
        current = self.sort.lstrip("-")
        descending = self.sort.startswith("-")
        if current == key:
            target = key if descending else f"-{key}"
            state = "descending" if descending else "ascending"
        else:
            target, state = key, None
        return self.query(sort=target, page=None), state

    def page_link(self, number: int) -> str:
        return self.query(page=number)


def _order(expression: str, descending: bool):
    name = expression.lstrip("-")
    flip = expression.startswith("-") != descending
    return F(name).desc(nulls_last=True) if flip else F(name).asc(nulls_last=True)


def listing(
    request,
    queryset: QuerySet,
    *,
    sorts: dict[str, str | Sequence[str]],
    default: str,
    per_page: int = PER_PAGE,
    keep: Sequence[str] = (),
) -> Listing:
    """Sort ``queryset`` by the requested key (ties broken by primary key, so pages never
    overlap) and return one page of it. ``keep`` names the filter parameters the page's
    links carry along."""
    requested = request.GET.get("sort") or default
    key = requested.lstrip("-")
    if key not in sorts:
        requested, key = default, default.lstrip("-")
    descending = requested.startswith("-")
    expressions = sorts[key]
    if isinstance(expressions, str):
        expressions = [expressions]
    ordering = [_order(e, descending) for e in expressions]
    ordering.append(F("pk").desc() if descending else F("pk").asc())
    paginator = Paginator(queryset.order_by(*ordering), per_page)
    page = paginator.get_page(request.GET.get("page"))
    params = {name: request.GET[name] for name in keep if request.GET.get(name)}
    if requested != default:
        params["sort"] = requested
    return Listing(page=page, sort=requested, sorts=list(sorts), params=params)
