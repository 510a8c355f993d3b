from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from access.policy import public


@public
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for container health checks: the process answers; no data is revealed."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("login/", public(auth_views.LoginView.as_view()), name="login"),
    # Signing out needs no role: a session that lost its role must still be able to leave.
    path("logout/", public(auth_views.LogoutView.as_view()), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("fleet.urls")),
    # Before findings: its images/<path:ref>/ would take vulns' images/inventory/… routes.
    path("", include("vulns.urls")),
    path("", include("findings.urls")),
    path("", include("policy.urls")),
    path("", include("scans.urls")),
    path("", include("trends.urls")),
    path("", include("alerts.urls")),
]
