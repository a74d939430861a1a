from django.urls import path

from .views import audit, batches, drift, inventory, requests, uploads, verification

app_name = "aliases"

urlpatterns = [
    path("", requests.home, name="home"),
    path("requests/", requests.request_list, name="request_list"),
    path("requests/new/", requests.request_new, name="request_new"),
    path("requests/upload/", uploads.request_upload, name="request_upload"),
    path(
        "requests/upload/template.csv",
        uploads.request_upload_template,
        name="request_upload_template",
    ),
    path("requests/<int:pk>/", requests.request_detail, name="request_detail"),
    path("requests/<int:pk>/approve/", requests.request_approve, name="request_approve"),
    path("requests/<int:pk>/reject/", requests.request_reject, name="request_reject"),
    path("requests/<int:pk>/cancel/", requests.request_cancel, name="request_cancel"),
    path("requests/<int:pk>/retry/", requests.request_retry, name="request_retry"),
    path("requests/<int:pk>/settle/", requests.request_settle, name="request_settle"),
    path(
        "requests/<int:pk>/verify-database/",
        verification.request_verify_db,
        name="request_verify_db",
    ),
    path(
        "requests/approve-selected/",
        batches.requests_approve_selected,
        name="requests_approve_selected",
    ),
    path("batches/<int:pk>/", batches.batch_detail, name="batch_detail"),
    path("batches/<int:pk>/pause/", batches.batch_pause, name="batch_pause"),
    path("batches/<int:pk>/resume/", batches.batch_resume, name="batch_resume"),
    path("batches/<int:pk>/withdraw/", batches.batch_withdraw, name="batch_withdraw"),
    path("batches/<int:pk>/approve/", batches.batch_approve, name="batch_approve"),
    path("vicidial/resume/", requests.vicidial_resume, name="vicidial_resume"),
    path("audit/", audit.audit_list, name="audit_list"),
    path("audit/export.<str:fmt>", audit.audit_export, name="audit_export"),
    path("extensions/", audit.extension_lookup, name="extension_lookup"),
    path("extensions/<str:login>/", audit.extension_history, name="extension_history"),
    path("inventory/", inventory.inventory_list, name="inventory"),
    path("inventory/<int:pk>/", inventory.alias_detail, name="alias_detail"),
    path("inventory/<int:pk>/change/", inventory.alias_change, name="alias_change"),
    path("inventory/<int:pk>/disable/", inventory.alias_disable, name="alias_disable"),
    path("inventory/<int:pk>/enable/", inventory.alias_enable, name="alias_enable"),
    path("drift/", drift.drift, name="drift"),
    path("drift/adopt/", drift.drift_adopt, name="drift_adopt"),
]
