from __future__ import annotations

from django.urls import path

from accounts.views import account, language, people

urlpatterns = [
    path("account/", account.account, name="account"),
    path("account/language", language.language, name="language"),
    path("account/password/", account.password_change, name="password-change"),
    path("account/mfa/", account.mfa_page, name="mfa"),
    path("account/welcome/<uidb64>/<token>/", account.welcome, name="welcome"),
    path("access/users/", people.users, name="users"),
    path("access/users/new", people.user_add, name="user-add"),
    path("access/users/<int:pk>/", people.user_edit, name="user-edit"),
    path("access/teams/", people.teams, name="teams"),
    path("access/teams/<int:pk>/", people.team_edit, name="team-edit"),
]
