"""Host-level rules (CIS Docker Benchmark sections 1 and 3), decided from what SSH shows of
the host: file owners and modes, audit rules, the daemon's command line and configuration.
Without SSH access each returns unknown with cause NO_SSH."""

from __future__ import annotations
