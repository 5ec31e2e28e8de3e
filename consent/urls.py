"""Portal URLs (urlpatterns, namespace "consent") and API URLs (api_urlpatterns, mounted under
/api/v1/consent/, namespace "consent-api")."""

app_name = "consent"

urlpatterns: list = []

api_urlpatterns: list = []
