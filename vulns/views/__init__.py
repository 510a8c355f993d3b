"""The vulnerability pages (fleet, one vulnerability with its triage, one inventory) and
their downloads."""
