"""Portal URLs (urlpatterns, namespace "datasets") and API URLs (api_urlpatterns, mounted under
/api/v1/datasets/, namespace "datasets-api")."""

app_name = "datasets"

urlpatterns: list = []

api_urlpatterns: list = []
