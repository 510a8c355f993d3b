from __future__ import annotations

from celery import shared_task

from hosts.models import Host
from vulns import inventories
from vulns.signals import notify, vulnerabilities_changed


@shared_task(ignore_result=True)
def rematch_inventories() -> int:
    """Match inventories against vulnerability data newer than they saw (beat, and after an
    import); rescans the hosts whose images' vulnerabilities changed, which re-reads no
    inventory. Returns the number of inventories that changed."""
    changed = inventories.rematch()
    if changed:
        hosts = Host.objects.filter(pk__in=inventories.hosts_running(changed)).order_by("name")
        notify(vulnerabilities_changed, hosts, sender=Host)
    return len(changed)
