"""URLconf for tests of cross-cutting API behaviour: the real URLs plus one view that fails
the way a bug would, to see the 500 answer."""

from django.urls import path
from rest_framework.views import APIView

from governance.urls import *  # noqa: F403
from governance.urls import urlpatterns as real_urlpatterns


class BrokenApi(APIView):
    def get(self, request):
        raise ZeroDivisionError("a bug")


urlpatterns = [*real_urlpatterns, path("api/v1/test-broken", BrokenApi.as_view())]
