from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path

from access.policy import public
from accounts.views import account as account_views
from posture import health


@public
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for container health checks: the process answers; no data is revealed."""
    return HttpResponse("ok", content_type="text/plain")


@public
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: which dependency is down (names and ok/down only), 503 while one is."""
    checks = health.readiness()
    body = {name: "ok" if ok else "down" for name, ok in checks.items()}
    return JsonResponse(body, status=200 if all(checks.values()) else 503)


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    # Accounts: the password, and the authenticator's code for those who enrolled one.
    path("login/", account_views.login, name="login"),
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
    # Audit trail (issue 12): /audit/ and its export, admins only.
    path("", include("audit.urls")),
    # REST API (issue 13): /api/v1/ and the token pages under /account/tokens/.
    path("api/v1/", include("api.urls")),
    path("", include("api.urls_pages")),
]

# The database being down answers a 503 page, not a stack trace (posture.health).
handler500 = "posture.health.server_error"
