"""What every page's header needs from the request alone (no app is imported here: the
project package stays below the apps, docs/ARCHITECTURE.md)."""

from __future__ import annotations

from django.http import HttpRequest

# URL name -> the menu entry it belongs to. A page not listed is its own entry, so a new
# menu link whose section is its URL name is marked with no change here.
SECTIONS = {
    "host-detail": "fleet",
    "host-edit": "fleet",
    "host-delete": "fleet",
    "container-detail": "containers",
    "image-detail": "images",
    "rule-detail": "rules",
    "vulnerability": "vulnerabilities",
    "image-inventory": "vulnerabilities",
    "report": "reports",
    "report-subscriptions": "reports",
    "user-add": "users",
    "user-edit": "users",
    "team-edit": "teams",
    "password-change": "account",
    "mfa": "account",
}


def nav(request: HttpRequest) -> dict[str, str]:
    """`nav_section`: the menu entry of the page being shown, which the header marks with
    aria-current="page" (WCAG 2.4.8: where am I), not by colour alone."""
    match = getattr(request, "resolver_match", None)
    name = match.url_name if match and match.url_name else ""
    return {"nav_section": SECTIONS.get(name, name)}
