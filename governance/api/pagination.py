"""Every list the API answers is a page: ``?page=N`` (from 1) and ``?page_size=M`` (1 to
``API_MAX_PAGE_SIZE``, default ``API_PAGE_SIZE``), answered as
``{"count", "page", "page_size", "next", "previous", "results"}``. One helper, so every list
behaves and is documented the same (``paginated`` for the schema, ``PAGE_PARAMETERS`` for its
parameters)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from governance.errors import ApplicationError

MSG_PAGE = "page must be a whole number from 1."
MSG_PAGE_SIZE = "page_size must be a whole number from 1 to {limit}."


class PageQuery(serializers.Serializer):
    """The query parameters of every list (documented with their bounds)."""

    class Meta:
        ref_name = "PageQuery"

    page = serializers.IntegerField(
        required=False, min_value=1, max_value=10**9, help_text="Page number, from 1."
    )
    page_size = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=500,
        help_text="Items per page (default API_PAGE_SIZE, at most API_MAX_PAGE_SIZE = 500).",
    )


PAGE_PARAMETERS = [PageQuery]

_cache: dict[str, type] = {}


def paginated(serializer_class) -> serializers.Serializer:
    """The schema of a page of ``serializer_class`` items."""
    name = serializer_class.Meta.ref_name if hasattr(serializer_class, "Meta") else None
    name = f"Paginated{name or serializer_class.__name__}"
    if name not in _cache:
        _cache[name] = inline_serializer(
            name=name,
            fields={
                "count": serializers.IntegerField(help_text="Items in the whole list."),
                "page": serializers.IntegerField(),
                "page_size": serializers.IntegerField(),
                "next": serializers.CharField(allow_null=True, help_text="URL of the next page"),
                "previous": serializers.CharField(allow_null=True),
                "results": serializer_class(many=True),
            },
        )
    return _cache[name]


def _whole(value: str | None, default: int, message: str, field: str, low: int, high: int):
    if value in (None, ""):
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise ApplicationError(message, {"field": field})
    return int(value)


def page_of(request, items, serializer_class, *, context: dict | None = None) -> Response:
    """One page of ``items`` (a queryset or a list), serialized."""
    limit = settings.API_MAX_PAGE_SIZE
    size = _whole(
        request.query_params.get("page_size"),
        min(settings.API_PAGE_SIZE, limit),
        MSG_PAGE_SIZE.format(limit=limit),
        "page_size",
        1,
        limit,
    )
    page = _whole(request.query_params.get("page"), 1, MSG_PAGE, "page", 1, 10**9)
    count = items.count() if hasattr(items, "count") and not isinstance(items, list) else len(items)
    pages = max(1, -(-count // size))
    chunk = items[(page - 1) * size : page * size] if page <= pages else []

    def link(number: int) -> str:
        query = request.query_params.copy()
        query["page"] = str(number)
        query["page_size"] = str(size)
        return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")

    return Response(
        {
            "count": count,
            "page": page,
            "page_size": size,
            "next": link(page + 1) if page < pages else None,
            "previous": link(page - 1) if page > 1 else None,
            "results": serializer_class(chunk, many=True, context=context or {}).data,
        }
    )
