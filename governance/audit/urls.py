from django.urls import path

from governance.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.log, name="log"),
    path("entries/<int:pk>/", views.entry, name="entry"),
]
