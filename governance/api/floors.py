"""The floors the check API is measured against (``make bench``, issue 14), served by the same
gunicorn under ``/bench/`` only when ``BENCH_ENDPOINTS`` is on (never in production routing):

* ``/bench/floor/drf`` — a bare DRF ``APIView`` with the API's default authentication
  (bearer token), permission and throttle classes and the same middleware, answering a
  constant: what any authenticated API call costs before it does anything;
* ``/bench/floor/plain`` — a plain Django ``JsonResponse`` view behind the same middleware:
  what a request costs before DRF and authentication.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class FloorDrfApi(APIView):
    """Authenticated like every API call (defaults from settings), answers a constant."""

    schema = None

    def post(self, request: Request) -> Response:
        return Response({"decision": "allow"})


@csrf_exempt
def floor_plain(request):
    return JsonResponse({"decision": "allow"})


urlpatterns = [
    path("bench/floor/drf", FloorDrfApi.as_view(), name="bench-floor-drf"),
    path("bench/floor/plain", floor_plain, name="bench-floor-plain"),
]
