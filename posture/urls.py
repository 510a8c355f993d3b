from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


@login_not_required
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for container health checks: the process answers; no data is revealed."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
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
