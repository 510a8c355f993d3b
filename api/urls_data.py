"""API routes owned by api-data: findings, exceptions, vulnerabilities, trends, uploads,
SARIF. Read api/base.py's docstring first."""

from __future__ import annotations

urlpatterns: list = []
