"""Users and teams, managed by admins in the app (Django's admin stays for the rest)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from access.models import Team
from access.policy import allow
from access.roles import Perm
from accounts import mfa, people
from accounts.people_forms import ConfirmForm, TeamForm, UserCreateForm, UserEditForm
from posture.lib.htmx import form_status

User = get_user_model()


@allow(Perm.USERS)
def users(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/users.html", {"accounts": people.listing()})


@allow(Perm.USERS)
@never_cache  # may show a set-password link
def user_add(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if form.is_valid():
        data = form.cleaned_data
        user = people.create_user(
            request,
            username=data["username"],
            email=data["email"],
            role=data["role"],
            teams=data["teams"],
        )
        # Rendered, not redirected to: the link is shown this once and kept nowhere.
        link = request.build_absolute_uri(people.invite_path(user))
        return render(request, "accounts/user_invite.html", {"account": user, "link": link})
    status = form_status(request, form)
    return render(request, "accounts/user_form.html", {"form": form}, status=status)


@allow(Perm.USERS)
@never_cache  # may show a set-password link
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    editor = request.user
    action = request.POST.get("action", "save")
    if request.method == "POST" and action == "invite":
        link = request.build_absolute_uri(people.new_invite(request, user))
        return render(request, "accounts/user_invite.html", {"account": user, "link": link})
    if request.method == "POST" and action == "unlock":
        if people.unlock(request, user):
            messages.success(request, _("The account can sign in again."))
        return redirect("user-edit", pk=user.pk)
    if request.method == "POST" and action == "remove-mfa":
        if people.remove_mfa(request, user):
            messages.success(request, _("Two-factor sign-in was turned off for this account."))
        return redirect("user-edit", pk=user.pk)
    initial = {
        "role": people.role_of(user),
        "teams": people.teams_of(user),
        "active": user.is_active,
    }
    form = UserEditForm(
        request.POST or None,
        initial=initial,
        target=user,
        editor=editor,  # type: ignore[arg-type]
    )
    if form.is_valid():
        data = form.cleaned_data
        people.update_user(
            request, user, role=data["role"], teams=data["teams"], active=data["active"]
        )
        messages.success(request, _("The account was saved."))
        return redirect("users")
    context = {
        "form": form,
        "account": user,
        "mfa_on": mfa.has_mfa(user),
        "locked": people.locked_out(user),
    }
    return render(request, "accounts/user_form.html", context, status=form_status(request, form))


@allow(Perm.USERS)
def teams(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if form.is_valid():
        people.create_team(
            request, name=form.cleaned_data["name"], label=form.cleaned_data["label"]
        )
        messages.success(request, _("The team was created."))
        return redirect("teams")
    listing = Team.objects.prefetch_related("members__user")
    context = {"teams": listing, "form": form}
    return render(request, "accounts/teams.html", context, status=form_status(request, form))


@allow(Perm.USERS)
def team_edit(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_object_or_404(Team, pk=pk)
    if "delete" in request.GET or "confirm" in request.POST:
        members = list(team.members.select_related("user"))
        confirm = ConfirmForm(request.POST or None)
        if confirm.is_valid() and not members:
            people.delete_team(request, team)
            messages.success(request, _("The team was deleted."))
            return redirect("teams")
        context = {"team": team, "members": members}
        return render(request, "accounts/team_confirm_delete.html", context)
    form = TeamForm(request.POST or None, instance=Team.objects.get(pk=team.pk))
    if form.is_valid():
        people.update_team(
            request, team, name=form.cleaned_data["name"], label=form.cleaned_data["label"]
        )
        messages.success(request, _("The team was saved."))
        return redirect("teams")
    context = {"form": form, "team": team}
    return render(request, "accounts/team_form.html", context, status=form_status(request, form))
