"""A regression is a problem on a named subject, not on a container id: redeploying a
container (same name, new id) keeps its regression open without a mail; a container fixed,
renamed or removed for real recovers."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.detect import detect, problem_key
from alerts.models import Event, Notification, Regression
from findings.models import Finding
from hosts.models import Host
from lab.smtp import LabSmtp
from tests.alerts.helpers import Scans, privileged
from tests.factories import FindingFactory, HostFactory, ScanRunFactory

pytestmark = pytest.mark.django_db


def socket(name: str) -> dict[str, Any]:
    return {**privileged(name), "rule_id": "CTR-DOCKER-SOCKET"}


def open_findings(host: Host) -> list[Finding]:
    return list(Finding.objects.open().for_host(host).order_by("id"))


def redeploy(scans: Scans, host: Host, names: list[str]) -> None:
    """Every named container replaced by one of the same name and a new id, same problems."""
    gone = [f for f in open_findings(host) if f.subject_name in names]
    scans.success(host, opened=[privileged(n) for n in names], resolved=gone)


def test_redeploy_keeps_regressions_open_and_silent(
    host: Host, scans: Scans, subscriber: Any, lab_smtp: LabSmtp
) -> None:
    """GIVEN privileged containers web and db, each with an open regression and its mail
    WHEN both are redeployed (new container ids, still privileged)
    THEN no event and no mail; each regression follows the new finding, and a later fix
    sends one recovery naming the container, open since the first alert."""
    scans.success(host)
    scans.success(host, opened=[privileged("web"), privileged("db")])
    lab_smtp.wait_for(2)
    before = {r.pk: r for r in Regression.objects.filter(host=host)}
    events = Event.objects.count()

    redeploy(scans, host, ["web", "db"])
    redeploy(scans, host, ["web", "db"])

    assert Event.objects.count() == events
    assert Notification.objects.count() == 2 and len(lab_smtp.messages) == 2
    current = open_findings(host)
    assert len(current) == 2
    after = Regression.objects.filter(host=host).open()
    assert {r.pk for r in after} == set(before)
    assert {r.finding_id for r in after} == {f.pk for f in current}
    assert all(r.opened_at == before[r.pk].opened_at for r in after)

    web = next(f for f in current if f.subject_name == "web")
    scans.success(host, resolved=[web])
    _, _, recovery = lab_smtp.wait_for(3)
    assert "Resolved on pay-1: CTR-PRIVILEGED on web" in recovery["Subject"]
    assert Regression.objects.filter(host=host).open().get().finding.subject_name == "db"


def test_one_fixed_one_redeployed_recovers_once(
    host: Host, scans: Scans, subscriber: Any, lab_smtp: LabSmtp
) -> None:
    scans.success(host)
    scans.success(host, opened=[privileged("web"), privileged("db")])
    lab_smtp.wait_for(2)
    old = open_findings(host)

    # db redeployed still privileged; web redeployed without --privileged: no finding.
    scans.success(host, opened=[privileged("db")], resolved=old)

    _, _, recovery = lab_smtp.wait_for(3)
    assert "Resolved on pay-1: CTR-PRIVILEGED on web" in recovery["Subject"]
    assert list(Event.objects.order_by("id").values_list("phase", flat=True)) == [
        "opened",
        "opened",
        "recovered",
    ]
    [still] = Regression.objects.filter(host=host).open()
    assert still.finding == Finding.objects.open().get(host=host, subject_name="db")


def test_renamed_container_recovers_and_regresses(
    host: Host, scans: Scans, subscriber: Any, lab_smtp: LabSmtp
) -> None:
    """A new name is another subject as far as a human can tell: the old one recovers."""
    scans.success(host)
    scans.success(host, opened=[privileged("web")])
    lab_smtp.wait_for(1)

    scans.success(host, opened=[privileged("web-v2")], resolved=open_findings(host))

    _, first, second = lab_smtp.wait_for(3)
    subjects = {first["Subject"], second["Subject"]}
    assert any("Resolved on pay-1: CTR-PRIVILEGED on web." in s for s in subjects)
    assert any("Dangerous container on pay-1: CTR-PRIVILEGED on web-v2" in s for s in subjects)
    assert Regression.objects.filter(host=host).open().get().finding.subject_name == "web-v2"


def test_same_name_on_two_hosts_is_two_problems(
    host: Host, scans: Scans, subscriber: Any, lab_smtp: LabSmtp
) -> None:
    other = HostFactory(name="pay-2")
    for h in (host, other):
        scans.success(h)
        scans.success(h, opened=[privileged("web")])
    lab_smtp.wait_for(2)

    redeploy(scans, host, ["web"])  # pay-1: same problem, new container
    scans.success(other, resolved=open_findings(other))  # pay-2: fixed

    _, _, recovery = lab_smtp.wait_for(3)
    assert "Resolved on pay-2: CTR-PRIVILEGED on web" in recovery["Subject"]
    assert Regression.objects.filter(host=host).open().count() == 1
    assert not Regression.objects.filter(host=other).open().exists()


def test_rules_on_one_container_are_separate_problems(
    host: Host, scans: Scans, subscriber: Any, lab_smtp: LabSmtp
) -> None:
    scans.success(host)
    scans.success(host, opened=[privileged("web"), socket("web")])
    lab_smtp.wait_for(2)
    [sock] = [f for f in open_findings(host) if f.rule_id == "CTR-DOCKER-SOCKET"]

    # Redeployed without the socket mount, still privileged.
    scans.success(host, opened=[privileged("web")], resolved=open_findings(host))

    _, _, recovery = lab_smtp.wait_for(3)
    assert "Resolved on pay-1: CTR-DOCKER-SOCKET on web" in recovery["Subject"]
    assert Regression.objects.get(finding=sock).closed_at is not None


@pytest.mark.parametrize(
    "name",
    [
        "ä" * 255,  # as long as a stored name gets, two bytes a character
        "web\n<b>\u202e🐳",  # newline, markup, a right-to-left override
        "finding:1",  # looks like an old key
    ],
)
def test_hostile_names_make_bounded_keys_that_still_match(
    host: Host, scans: Scans, subscriber: Any, lab_smtp: LabSmtp, name: str
) -> None:
    scans.success(host)
    scans.success(host, opened=[privileged(name), privileged(name[:-1] + "?")])
    lab_smtp.wait_for(2)
    keys = set(Regression.objects.filter(host=host).values_list("key", flat=True))
    assert len(keys) == 2
    assert all(len(k) <= 64 for k in keys)  # Regression.key's max_length

    redeploy(scans, host, [name, name[:-1] + "?"])

    assert Event.objects.count() == 2 and len(lab_smtp.messages) == 2
    regression = Regression.objects.get(finding__subject_name=name, closed_at__isnull=True)
    assert regression.details["subject_name"] == name


def test_key_is_the_rule_alone_on_the_daemon() -> None:
    assert problem_key("DMN-ICC", "daemon", "daemon") == problem_key("DMN-ICC", "daemon", "")
    assert problem_key("CTR-PRIVILEGED", "container", "web") != problem_key(
        "CTR-PRIVILEGED", "image", "web"
    )


def test_accepted_replacement_keeps_the_regression_quiet(
    host: Host, scans: Scans, subscriber: Any, lab_smtp: LabSmtp
) -> None:
    """As when an exception accepts a finding that has a regression open (nothing happens
    until the finding is resolved), a redeploy under a new exception changes nothing either:
    the problem is still there, accepted, not resolved."""
    scans.success(host)
    scans.success(host, opened=[privileged("web")])
    lab_smtp.wait_for(1)

    accepted = {**privileged("web"), "accepted": True}
    scans.success(host, opened=[accepted], resolved=open_findings(host))

    assert Event.objects.count() == 1 and len(lab_smtp.messages) == 1
    [regression] = Regression.objects.filter(host=host).open()
    assert regression.finding == Finding.objects.open().get(host=host)

    scans.success(host, resolved=open_findings(host))
    _, recovery = lab_smtp.wait_for(2)
    assert "Resolved on pay-1: CTR-PRIVILEGED on web" in recovery["Subject"]


def test_a_new_accepted_finding_opens_nothing(host: Host, scans: Scans) -> None:
    scans.success(host)
    scans.success(host, opened=[{**privileged("web"), "accepted": True}])
    assert not Regression.objects.exists()


def test_detect_run_twice_for_a_scan_changes_nothing(host: Host, scans: Scans) -> None:
    scans.success(host)
    run = scans.success(host, opened=[privileged("web"), privileged("db")])
    assert detect(run) == []
    web = Finding.objects.get(host=host, subject_name="web")
    fix = scans.success(host, opened=[privileged("db")], resolved=open_findings(host))
    assert detect(fix) == []
    assert Event.objects.count() == 3
    assert Regression.objects.get(finding=web).closed_scan == fix


def detect_queries(count: int) -> int:
    host = HostFactory()
    ScanRunFactory(host=host)
    first = ScanRunFactory(host=host)
    names = [f"app-{n}" for n in range(count)]
    for name in names + ["gone"]:
        FindingFactory(host=host, opened_scan=first, subject_name=name)
    detect(first)
    redeployed = ScanRunFactory(host=host)
    Finding.objects.filter(host=host).update(
        resolved_at=redeployed.finished_at, resolved_scan=redeployed
    )
    for name in names + ["new"]:
        FindingFactory(host=host, opened_scan=redeployed, subject_name=name)
    with CaptureQueriesContext(connection) as queries:
        events = detect(redeployed)
    assert sorted(e.phase for e in events) == ["opened", "recovered"]
    return len(queries)


def test_detect_queries_do_not_grow_with_the_findings() -> None:
    assert detect_queries(3) == detect_queries(40)
