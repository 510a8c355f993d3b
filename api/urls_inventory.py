"""API routes owned by inventory: host import and export. Read api/base.py's docstring
first."""

from __future__ import annotations

urlpatterns: list = []
