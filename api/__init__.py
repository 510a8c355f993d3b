"""The REST API (/api/v1/, issue 13). How to write an endpoint: api/base.py's docstring."""
