from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from access.policy import signed_in
from accounts.forms import LanguageForm
from accounts.services import SESSION_KEY, set_language


def safe_next(request: HttpRequest, url: str) -> str:
    """The page to go back to, unless it points off this site (an open redirect)."""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return reverse("fleet")


@signed_in
@require_POST
def language(request: HttpRequest) -> HttpResponse:
    user = request.user
    if isinstance(user, AnonymousUser):  # LoginRequiredMiddleware sends these to login first
        raise PermissionDenied
    form = LanguageForm(request.POST)
    if not form.is_valid():
        # Only a hand-made request gets here (the menu offers no other choice): say so on the
        # page it came from rather than on a bare error page.
        messages.error(request, _("This language is not offered; nothing was changed."))
        return redirect(safe_next(request, str(request.POST.get("next", ""))))
    code = form.cleaned_data["language"]
    set_language(user, code)
    request.session[SESSION_KEY] = code
    return redirect(safe_next(request, form.cleaned_data["next"]))
