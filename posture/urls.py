from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from posture import metrics
from scans import views_profiles


@login_not_required
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for container health checks: the process answers; no data is revealed."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("profiles/", views_profiles.profiles, name="profiles"),
    path("profiles/<int:pk>/delete", views_profiles.profile_delete, name="profile-delete"),
    path("", include("accounts.urls")),
    path("", include("hosts.urls")),
    path("", include("scans.urls")),
    path("", include("trends.urls")),
    path("", include("alerts.urls")),
    path("", include("exceptions.urls")),
]
