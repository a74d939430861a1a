from django.urls import path

from .views import audit, requests

app_name = "aliases"

urlpatterns = [
    path("", requests.home, name="home"),
    path("requests/", requests.request_list, name="request_list"),
    path("requests/new/", requests.request_new, name="request_new"),
    path("requests/<int:pk>/", requests.request_detail, name="request_detail"),
    path("requests/<int:pk>/approve/", requests.request_approve, name="request_approve"),
    path("requests/<int:pk>/reject/", requests.request_reject, name="request_reject"),
    path("requests/<int:pk>/cancel/", requests.request_cancel, name="request_cancel"),
    path("requests/<int:pk>/retry/", requests.request_retry, name="request_retry"),
    path("requests/<int:pk>/settle/", requests.request_settle, name="request_settle"),
    path("vicidial/resume/", requests.vicidial_resume, name="vicidial_resume"),
    path("audit/", audit.audit_list, name="audit_list"),
    path("audit/export.<str:fmt>", audit.audit_export, name="audit_export"),
    path("extensions/", audit.extension_lookup, name="extension_lookup"),
    path("extensions/<str:login>/", audit.extension_history, name="extension_history"),
]
