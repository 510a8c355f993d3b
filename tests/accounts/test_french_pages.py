"""The main pages, rendered for a French-speaking account over a realistic fleet, hold no
English interface word: severities, verdict reasons, subject kinds, menus, confirmations and
chart dates included.

The data is left out before looking (host, container and image names, rule ids, evidence,
what people typed), so what remains is the interface's own text; a word that is English and
never French there is a string someone forgot to translate. A failure prints each offending
word in its sentence and the page it is on.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from access.models import Team
from accounts.models import Preference
from alerts.models import Subscription
from audit.models import AuditEvent
from findings.models import Container, Finding, HostPosture, Image
from hosts.models import Host
from lab.fake_engine import FakeEngine
from policy.models import RiskException, RuleOverride
from rules import REGISTRY
from scans import services
from scans.models import ScanRun
from scans.transports import Limits
from tests.factories import UserFactory
from tests.scans.fake import CID, responses
from tests.system.browser.seed import seed_exceptions, seed_fleet
from trends.models import ReportSubscription
from vulndb.models import Advisory, AffectedPackage
from vulns.models import ImageInventory, ImageVulnerability, Package, VulnDecision

pytestmark = pytest.mark.django_db

# English words that are never French, in the forms an interface uses them. Words both
# languages share ("score", "image", "message(s)", "version", "total", "audit", "exceptions",
# "on", "a", "an", "me", "or", "test", "date", "type", and the month abbreviations Django
# writes alike: "sep", "oct", "nov") are not here.
_WORDS = """
    the and of not assessed assess failing failed fail passing passed pass host hosts rule rules
    container containers findings finding last scan scans scanned scanning save saved delete
    deleted critical high medium low days day ago never with without this that these those
    from for to is are was were be been has have had will would should can could may must
    in at by if then than more less most least only also each every per fix fixed first next
    previous search filter filters clear apply cancel confirm submit sign signed out name
    status severity grade unknown manual check checks vulnerabilities vulnerability package
    packages export download print running stopped exited created updated changed recent
    send sent profile profiles report reports trends trend chart summary details
    overview history changes team teams user users account accounts password language email
    subscribe subscription subscriptions alerts alert period week weeks month months quarter
    year today yesterday hours hour since until before after between which what when where
    who why how your you our we they it its there here yes no none all any some show hide
    add edit new open opened resolved accepted owner reason expires expired expiring revoke
    revoked approve approved reject rejected pending request requested daily weekly monthly
    back view see showing matches match matching catalogue's fleet's host's rule's
    january february march april june july august september october november december
    feb apr jun aug
    monday tuesday wednesday thursday friday saturday sunday
    sign-in sign-out two-factor read-only not-assessed
"""
ENGLISH = frozenset(_WORDS.split())

LIMITS = Limits(deadline=5, connect_timeout=2, read_timeout=2)
LAYERS_KEY = "k" * 64


@dataclass
class World:
    admin: User
    data: list[str]  # what people and daemons wrote: left out before looking
    pages: dict[str, str]  # page -> URL
    audit_data: list[str]  # and, on the audit trail only, the values it recorded


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    fake = FakeEngine(
        Path(f"/tmp/pst-fr-{time.monotonic_ns()}.sock"), responses(CapAdd=["SYS_ADMIN"])
    ).start()
    yield fake
    fake.stop()


@pytest.fixture
def world(engine: FakeEngine) -> World:
    """GIVEN the browser journeys' fleet (90 days of history, exceptions), one host scanned
    for real from a daemon's answers (so its verdicts, reasons and manual checks are the
    rules' own), a vulnerable image, an override, a team, subscriptions and a French admin."""
    hosts = seed_fleet()
    seed_exceptions(hosts)
    scanned = Host.objects.create(name="fake", endpoint=engine.url, labels={"team": "pay"})
    run, _ = services.request_scan(scanned, enqueue=False)
    assert services.run_scan(run.pk, LIMITS).status == "succeeded"

    image = Image.objects.filter(host=scanned).first()
    assert image is not None
    ImageInventory.objects.filter(key=image.layers_key).delete()
    image.layers_key = LAYERS_KEY
    image.save()
    inventory = ImageInventory.objects.create(key=LAYERS_KEY, status="assessed", read_from=scanned)
    Package.objects.create(inventory=inventory, ecosystem="Debian:12", name="libc6", version="1")
    now = timezone.now()
    advisory = Advisory.objects.create(id="DSA-5514-1", modified=now, group="CVE-2023-4911")
    AffectedPackage.objects.create(advisory=advisory, ecosystem="Debian:12", name="glibc")
    ImageVulnerability.objects.create(
        inventory=inventory,
        advisory_id="DSA-5514-1",
        vuln="CVE-2023-4911",
        package_name="libc6",
        installed_version="1",
    )
    VulnDecision.objects.create(
        vuln="CVE-2023-4911",
        state="accepted",
        scope="fleet",
        reason="Patched by the vendor's backport.",
        owner="ops",
        expires_at=now + timedelta(days=30),
    )
    RuleOverride.objects.create(
        rule_id="IMG-LATEST-TAG", host=scanned, action="disable", reason="A lab host."
    )
    # A host whose last scan failed: its error and advice are on its page and in its history.
    lake = Host.objects.get(name="data-lake")
    HostPosture.objects.filter(host=lake).update(last_error_class="timeout")
    ScanRun.objects.create(
        host=lake, status=ScanRun.Status.FAILED, error_class="timeout", finished_at=now
    )
    team = Team.objects.create(name="Payments", label="payments")
    admin = UserFactory(username="camille", email="camille@example.org")
    Preference.objects.create(user=admin, language="fr")
    UserFactory(username="dominique", role="operator", role__teams=[team])
    Subscription.objects.create(user=admin, scope=Subscription.Scope.ALL)
    ReportSubscription.objects.create(user=admin, period="month")

    data = [h.name for h in Host.objects.all()]
    data += [h.endpoint for h in Host.objects.all()]
    data += [f"{k}={v}" for h in Host.objects.all() for k, v in h.labels.items()]
    data += [json.dumps(h.labels) for h in Host.objects.all()]  # as the audit trail shows them
    data += [v for h in Host.objects.all() for v in h.labels.values()]
    data += [h.owner_email for h in Host.objects.all()]
    data += list(Container.objects.values_list("name", flat=True))
    data += list(Image.objects.values_list("name", flat=True))
    for f in Finding.objects.all():
        data.append(f.subject_name)
        data += [str(v) for e in f.evidence for v in e.values()]
    for e in RiskException.objects.all():
        data += [e.reason, e.owner, e.container_pattern, e.created_by]
    data += ["Patched by the vendor's backport.", "A lab host.", "Payments", "payments"]
    data += [u.username for u in User.objects.all()] + [u.email for u in User.objects.all()]
    data += list(REGISTRY)
    # What the audit trail recorded (values, object names as they were when written).
    for event in AuditEvent.objects.all():
        data.append(event.target_repr)
        data += [str(v) for v in (event.details or {}).values()]
    values = []  # the trail's before → after values: what was stored, as it was stored
    for entry in LogEntry.objects.all():
        data.append(entry.object_repr)
        values += [str(v) for pair in (entry.changes_dict or {}).values() for v in pair]
    pages = {
        "fleet": reverse("fleet"),
        "host": reverse("host-detail", args=["fake"]),
        "seeded host": reverse("host-detail", args=["data-lake"]),
        "container": reverse("container-detail", args=["fake", CID]),
        "containers": reverse("containers"),
        "containers named": reverse("containers") + "?name=web",
        "images": reverse("images"),
        "image": reverse("image-detail", args=[image.name]),
        "rule": reverse("rule-detail", args=["CTR-CAP-ADD"]),
        "catalogue": reverse("rules"),
        "vulnerabilities": reverse("vulnerabilities"),
        "vulnerability": reverse("vulnerability", args=["CVE-2023-4911"]),
        "inventory": reverse("image-inventory", args=[LAYERS_KEY]),
        "profiles": reverse("profiles"),
        "exceptions": reverse("exceptions"),
        "trends": reverse("trends"),
        "report": reverse("report"),
        "monthly report": reverse("report") + "?period=month",
        "report mails": reverse("report-subscriptions"),
        "alerts": reverse("alerts"),
        "account": reverse("account"),
        "audit": reverse("audit"),
        "users": reverse("users"),
        "new user": reverse("user-add"),
        "user": reverse("user-edit", args=[User.objects.get(username="dominique").pk]),
        "team": reverse("team-edit", args=[team.pk]),
        "new host": reverse("host-add"),
        "host settings": reverse("host-edit", args=["fake"]),
        "password": reverse("password-change"),
        "two-factor": reverse("mfa"),
        "teams": reverse("teams"),
    }
    # Longest first; a value that is itself an English word ("host", a network mode) stays,
    # or it would hide that word everywhere.
    data = [d for d in data if d and d.lower() not in ENGLISH]
    # Docker's words inside French sentences: a label key, a flag's value, a setting's.
    data += ["l'étiquette team", "`team`", "CgroupDriver none", "--network host"]
    data = sorted(set(data), key=len, reverse=True)
    audit_data = sorted({*data, *values}, key=len, reverse=True)
    return World(admin=admin, data=data, pages=pages, audit_data=audit_data)


class Text(HTMLParser):
    """The text a person reads or hears: visible text, and the attributes read aloud or
    shown (title, placeholder, aria-label, alt, a button's value). Not script or style, not
    code (commands, fields, identifiers: <code>, <pre>, <kbd>, <samp>), and not what the page
    itself declares English (lang="en", the catalogue's technical notes)."""

    SPOKEN = ("title", "placeholder", "aria-label", "alt", "data-confirm", "hx-confirm")
    UNREAD = {"script", "style", "code", "pre", "kbd", "samp"}
    VOID = {"br", "img", "input", "meta", "link", "hr", "source", "wbr", "area", "col"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.stack: list[bool] = []  # per open element: is its text left out?

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        skipped = bool(self.stack and self.stack[-1])
        # The audit filters' examples are codes ("host.", "auth.login"), not words.
        codes = tag == "input" and values.get("name") in ("action", "target_type")
        if not skipped and not codes:
            for name in self.SPOKEN:
                if values.get(name):
                    self.parts.append(str(values[name]))
            if tag == "input" and values.get("type") in ("submit", "button"):
                self.parts.append(str(values.get("value") or ""))
        if tag not in self.VOID:
            self.stack.append(skipped or tag in self.UNREAD or values.get("lang") == "en")

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]):
            self.parts.append(data)


def interface_text(html: str, data: list[str]) -> list[str]:
    """The page's sentences, with the data values blanked out."""
    parser = Text()
    parser.feed(html)
    sentences = []
    for part in parser.parts:
        text = " ".join(part.split())
        for value in data:
            if value in text:
                text = re.sub(rf"(?<![\w-]){re.escape(value)}(?![\w-])", "·", text)
        if text:
            sentences.append(text)
    return sentences


# A word, and what may surround it; a token with anything else inside (first_name,
# user.create, SYS_ADMIN) is an identifier or a value, not prose, and so is a flag (--user).
WORD = re.compile(r"[A-Za-zÀ-ÿ'’-]+")
AROUND = "\"'’«»()[]{},;:!?.…“”`*"
# Dockerfile instructions and Docker's own values, written in capitals inside French prose
# ("l'instruction USER", "--cap-drop ALL").
KEYWORDS = {"ADD", "ALL", "COPY", "NONE", "RUN", "USER"}
# Products named in French prose as they are sold ("Slack ou Teams"): French writes teams
# as "équipes", so the capitalised word is always Microsoft's product.
PRODUCTS = {"Teams"}
# An English date ("Nov 30"): French writes the day first ("30 nov").
ENGLISH_DATE = re.compile(
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2}\b", re.IGNORECASE
)


def english_words(sentence: str) -> list[str]:
    found = [m.group(0) for m in ENGLISH_DATE.finditer(sentence)]
    for token in sentence.split():
        word = token.strip(AROUND)
        if word.startswith("-") or word in KEYWORDS or word in PRODUCTS:
            continue
        if WORD.fullmatch(word) and word.strip("'’-").lower() in ENGLISH:
            found.append(word.strip("'’-").lower())
    return found


def offences(html: str, data: list[str]) -> list[str]:
    out = []
    for sentence in interface_text(html, data):
        words = english_words(sentence)
        if words:
            out.append(f"{sorted(set(words))}: {sentence[:200]!r}")
    return out


def french(client: Client, world: World) -> Client:
    client.force_login(world.admin)
    return client


def test_the_main_pages_speak_french_only(client: Client, world: World):
    french(client, world)
    failures = []
    for page, url in world.pages.items():
        response = client.get(url)
        assert response.status_code == 200, (page, url, response.status_code)
        html = response.content.decode()
        assert '<html lang="fr">' in html, page
        data = world.audit_data if page == "audit" else world.data
        failures += [f"{page} ({url}): {o}" for o in offences(html, data)]
    assert failures == [], "English in the French interface:\n" + "\n".join(failures)
    failed = client.get(world.pages["seeded host"]).content.decode()
    assert "Délai dépassé" in failed  # the scan error, and what to do about it


def test_confirmations_speak_french(client: Client, world: World):
    """GIVEN the French admin WHEN they save an override and pause their report mails THEN
    the confirmation, with what it saved, is French."""
    french(client, world)
    form = {"rule_id": "CTR-HEALTHCHECK", "host": "fake", "action": "disable", "reason": "Lab."}
    saved = client.post(reverse("profiles"), form, follow=True).content.decode()
    report = ReportSubscription.objects.get(user=world.admin)
    toggle = reverse("report-subscription-toggle", args=[report.pk])
    paused = client.post(toggle, follow=True).content.decode()

    assert escape("CTR-HEALTHCHECK désactivée pour l'hôte fake") in saved
    assert "Envoi des rapports suspendu." in paused
    assert offences(saved, world.data) == []
    assert offences(paused, world.data) == []


def test_the_sign_in_page_follows_a_french_browser(client: Client, world: World):
    html = client.get(reverse("login"), headers={"accept-language": "fr-FR,fr;q=0.9"})
    page = html.content.decode()

    assert '<html lang="fr">' in page
    assert offences(page, world.data) == []


def test_the_checker_sees_english_and_leaves_data_alone():
    data = ["pay-api-1", "The CI runner starts build containers"]
    assert english_words("Last scan 3 days ago") == ["last", "scan", "days", "ago"]
    assert english_words("Nov 30 · Score") == ["Nov 30"]
    assert english_words("30 nov · Lancez avec --read-only et l'instruction USER") == []
    assert offences("<p>Aucun hôte</p><p title='Delete host'>x</p>", data) == [
        "['delete', 'host']: 'Delete host'"
    ]
    html = "<td>pay-api-1</td><td>The CI runner starts build containers</td><script>if</script>"
    assert offences(html, data) == []
    html = '<p>Via <code>the host</code> <span lang="en">from <b>the</b> API</span><br>ok</p>'
    assert offences(html, data) == []


def test_french_rule_titles_contract_de_with_the_article():
    """ "de le socket" is "du socket", "de les certificats" is "des certificats"."""
    # Not before an infinitive: "à le changer" is right.
    wrong = re.compile(r"\b(de|à) (le|les) (?!\w+er\b)", re.IGNORECASE)
    assert [r.title_fr for r in REGISTRY.values() if wrong.search(r.title_fr)] == []
    assert [r.rationale_fr for r in REGISTRY.values() if wrong.search(r.rationale_fr)] == []
