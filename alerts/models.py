"""Alerts: who wants to hear about which hosts, the regressions found, and every mail sent.

A regression is a row opened once when it appears and closed once when it clears; each of
those two moments is an Event, and subscribers are told about events, never about the
current state. So a problem that persists across a hundred scans sends one mail, and its
recovery one more.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from findings import vocabulary
from findings.models import Finding
from hosts.models import Host
from rules import Severity
from scans.models import ScanRun

# Lazy labels: the alert form and list show them in the reader's language.
SEVERITY_CHOICES = [(int(s), label) for s, label in vocabulary.SEVERITIES.items()]
# A threshold in words: "4" or "critical" alone does not say that higher ones are included.
THRESHOLD_WORDS = {
    Severity.CRITICAL: _("Critical only"),
    Severity.HIGH: _("High and above"),
    Severity.MEDIUM: _("Medium and above"),
    Severity.LOW: _("Low and above"),
    Severity.INFO: _("Everything, info included"),
}


class Subscription(models.Model):
    """One user's interest in a set of hosts, and how they want to be told."""

    class Scope(models.TextChoices):
        ALL = "all", _("All hosts")
        HOST = "host", _("One host")
        LABEL = "label", _("A team's hosts")
        OWNER = "owner", _("Hosts I own (by owner email)")
        FILTER = "filter", _("Hosts by labels and name")

    class Delivery(models.TextChoices):
        IMMEDIATE = "immediate", _("Immediately")
        DIGEST = "digest", _("Daily digest")

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        SLACK = "slack", _("Slack")
        TEAMS = "teams", _("Microsoft Teams")
        WEBHOOK = "webhook", _("Webhook (signed JSON)")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_subscriptions"
    )
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.ALL)
    # HOST: that host; a deleted host takes its subscriptions with it (they could match
    # nothing else).
    host = models.ForeignKey(
        Host, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # OWNER: hosts whose owner_email is this address (the user's own by default).
    owner_email = models.EmailField(blank=True)
    # LABEL and FILTER: "team=payments" or "team=payments,env=prod": every pair must match.
    label_selector = models.CharField(max_length=300, blank=True)
    # FILTER: a shell-style host name pattern, e.g. "pay-*".
    name_pattern = models.CharField(max_length=100, blank=True)
    min_severity = models.PositiveSmallIntegerField(
        choices=SEVERITY_CHOICES, default=int(Severity.HIGH)
    )
    delivery = models.CharField(max_length=16, choices=Delivery.choices, default=Delivery.IMMEDIATE)
    # Local times in `time_zone`; messages that arrive in between wait for a digest after.
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(default=timezone.now)
    # Where messages go: the user's address, or a chat/webhook URL (alerts.channels).
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    # The URL holds the credential (Slack's and Teams' paths are bearer secrets): sealed with
    # the public key (posture.lib.crypto), so the web can set it and only workers open it.
    # Named *_enc so that rotate_keys finds it (hosts.credentials.sealed_fields).
    target_enc = models.TextField(blank=True)
    # The URL's host name alone: what pages and logs may say of where messages go.
    target_host = models.CharField(max_length=255, blank=True)
    # Webhook channel: the HMAC key receivers verify with, sealed like the URL; shown once.
    signing_secret_enc = models.TextField(blank=True)

    class Meta:
        ordering = ["user_id", "id"]

    def __str__(self) -> str:
        return f"{self.user} – {self.get_scope_display()}"

    def labels(self) -> dict[str, str]:
        pairs = (p.partition("=") for p in self.label_selector.split(",") if p.strip())
        return {k.strip(): v.strip() for k, _sep, v in pairs}

    def threshold_words(self) -> str:
        return str(THRESHOLD_WORDS[Severity(self.min_severity)])

    @property
    def is_email(self) -> bool:
        return self.channel == self.Channel.EMAIL


class RegressionQuerySet(models.QuerySet["Regression"]):
    def open(self) -> RegressionQuerySet:
        return self.filter(closed_at__isnull=True)

    def for_host(self, host: Host | int) -> RegressionQuerySet:
        return self.filter(host=host)


class Regression(models.Model):
    """Something got worse on a host, from the scan that saw it to the one that saw it clear."""

    class Kind(models.TextChoices):
        FINDING = "finding", _("New failing rule")
        DANGEROUS = "dangerous", _("Dangerous container")
        SCORE_DROP = "score_drop", _("Score drop")
        UNREACHABLE = "unreachable", _("Host failing to scan")
        VULNERABILITY = "vulnerability", _("New exploited or fixable critical vulnerability")

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="regressions")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Tells regressions of one kind apart on a host: "score", "health", or for a finding
    # "subject:<hash>" of its rule and subject name (alerts.detect.problem_key), so that a
    # redeployed container keeps its regression. "finding:<id>" is the older form. For a
    # vulnerability, "vuln:<hash>" of its id and package (alerts.detect.vulnerability_key).
    key = models.CharField(max_length=64)
    severity = models.PositiveSmallIntegerField(choices=SEVERITY_CHOICES)
    finding = models.ForeignKey(
        Finding, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Score before/after, failure count and error class: what the mail shows. For a finding,
    # the rule and subject its hashed key stands for; for a vulnerability, its id, package,
    # versions and whether it is known exploited.
    details = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    opened_scan = models.ForeignKey(
        ScanRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_scan = models.ForeignKey(
        ScanRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = RegressionQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # One open regression per thing: a receiver run twice for a scan opens nothing new.
            models.UniqueConstraint(
                fields=["host", "kind", "key"],
                condition=Q(closed_at__isnull=True),
                name="one_open_regression_per_key",
            )
        ]
        indexes = [
            # Detection after each scan: the host's open regressions.
            models.Index(fields=["host", "closed_at"], name="regression_host_open_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} on {self.host_id}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class Event(models.Model):
    """A regression opening or closing: the row a worker claims before telling anyone."""

    class Phase(models.TextChoices):
        OPENED = "opened", _("Regression")
        RECOVERED = "recovered", _("Recovery")

    regression = models.ForeignKey(Regression, on_delete=models.CASCADE, related_name="events")
    phase = models.CharField(max_length=16, choices=Phase.choices)
    created_at = models.DateTimeField(default=timezone.now)
    # Set by the compare-and-set claim; a row left None after a crash is picked up later.
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["regression", "phase"], name="one_event_per_phase")
        ]
        indexes = [
            # The sweep that processes events a worker never got to.
            models.Index(fields=["processed_at"], name="event_unprocessed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.phase} of {self.regression_id}"


class Notification(models.Model):
    """One message for one user: sent alone, held for a digest, or a digest itself."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        HELD = "held", _("Held for a digest")
        SENDING = "sending", _("Sending")
        # A channel's receiver failed for now (5xx, 429, timeout): tried again at next_attempt_at.
        RETRY = "retry", _("Waiting to retry")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        FOLDED = "folded", _("Sent in a digest")
        # The host left the recipient's teams between the event and the send.
        WITHHELD = "withheld", _("Withheld: host outside your teams")

    class Reason(models.TextChoices):
        IMMEDIATE = "", _("Immediate")
        DIGEST = "digest", _("Digest subscriber")
        QUIET = "quiet", _("Quiet hours")
        RATE = "rate", _("Rate limit")

    DIGEST_KIND = "digest"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_notifications"
    )
    # None for a digest, which carries the events it folded through `folded`.
    event = models.ForeignKey(
        Event, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=32)  # the email kind: alerts.emails.KINDS
    # A channel's message (Slack, Teams, webhook): that subscription's; None for a mail.
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    to = models.EmailField(blank=True)  # empty for a channel: its URL is a sealed secret
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    held_reason = models.CharField(max_length=16, choices=Reason.choices, blank=True)
    release_at = models.DateTimeField(null=True, blank=True)
    digest = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="folded"
    )
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Channels: attempts made so far, and when the next one is due (status RETRY).
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A user hears about an event once, however many subscriptions match the host.
            models.UniqueConstraint(
                fields=["event", "user"],
                condition=Q(event__isnull=False, subscription__isnull=True),
                name="one_notification_per_event_user",
            ),
            # A channel hears about an event once, however many times the event is processed.
            models.UniqueConstraint(
                fields=["event", "subscription"],
                condition=Q(event__isnull=False, subscription__isnull=False),
                name="one_notification_per_event_channel",
            ),
        ]
        indexes = [
            # Digest sweep: held messages whose time has come, per user.
            models.Index(fields=["status", "release_at"], name="notification_due_idx"),
            # Rate limit: a user's mails in the last hour.
            models.Index(fields=["user", "created_at"], name="notification_user_recent_idx"),
            # Rate limit of a channel: its messages in the last hour.
            models.Index(
                fields=["subscription", "created_at"], name="notification_chan_recent_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to} ({self.status})"


class DeliveryAttempt(models.Model):
    """One try at handing a channel's message (or a test message) to its receiver."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="attempts"
    )
    # None for a test message, which is not a Notification.
    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.CASCADE, related_name="attempt_rows"
    )
    number = models.PositiveSmallIntegerField(default=1)
    at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # Empty when the receiver took it (2xx); else an error class: alerts.channels.http.Error.
    error = models.CharField(max_length=32, blank=True)
    test = models.BooleanField(default=False)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # The alerts page: a subscription's last attempts.
            models.Index(fields=["subscription", "at"], name="attempt_subscription_idx"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.notification_id} ({self.status_code or self.error})"

    @property
    def delivered(self) -> bool:
        return not self.error
