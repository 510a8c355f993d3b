"""Real, isolated services on this machine for the test suite and the demo mode.

Everything listens on loopback only and keeps its state under /tmp/pst-*. Each service
starts idempotently: a live instance from an earlier run is reused, so a second test run
does not pay the start cost again. The services that run as processes share that
lifecycle (lab.process.LabProcess) and `running()` stops only what a run started itself.
"""
