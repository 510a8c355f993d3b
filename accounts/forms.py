from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def language_choices() -> list[tuple[str, StrOrPromise]]:
    # Language names stay in their own language: a reader lost in the wrong one finds theirs.
    return [("", _("Browser language")), *settings.LANGUAGES]


class LanguageForm(forms.Form):
    language = forms.ChoiceField(choices=language_choices, required=False)
    next = forms.CharField(required=False)
