from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path

from aliases.auth_forms import AdminLoginForm, PortalLoginForm
from aliases.views.health import healthz, healthz_live


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    # Resolved per request: the hashed static name exists only after collectstatic.
    return HttpResponsePermanentRedirect(static("favicon.svg"))


admin.site.site_header = "Phone alias portal"
admin.site.login_form = AdminLoginForm
admin.site.site_title = "Phone alias portal"

urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=PortalLoginForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon),
    # Answered by aliases.middleware.HealthzMiddleware first; named here to be found.
    path("healthz", healthz, name="healthz"),
    path("healthz/live", healthz_live, name="healthz_live"),
    path("", include("aliases.urls")),
]

handler403 = "aliases.views.errors.permission_denied"
