"""Posture settings: every knob comes from the environment (see docs/CONFIGURATION in README).

Defaults give the embedded mode: SQLite and a filesystem Celery broker under
POSTURE_DATA_DIR, so one command runs the whole product without a server to install.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from posture import settings_api
from posture.env import env, envbool, envint, envlist, envsecret, persistent_secret

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env("POSTURE_DATA_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = envbool("POSTURE_DEBUG", False)
SECRET_KEY = envsecret("POSTURE_SECRET_KEY") or persistent_secret(DATA_DIR / "secret_key")
# --- Sealed credentials (posture.lib.crypto) ----------------------------------------------
# Stored TLS client keys and SSH private keys are sealed with the public key; only processes
# given a private key open them. docker-compose.yml gives web and beat the public key only,
# workers the private keys too (comma-separated, current first, older ones kept until
# `manage.py rotate_keys` has re-sealed everything). With neither set (the embedded mode, one
# process for everything) a private key is generated once into the data directory.
CREDENTIALS_PUBLIC_KEY = envsecret("POSTURE_CREDENTIALS_PUBLIC_KEY")
CREDENTIALS_PRIVATE_KEYS = [
    k.strip() for k in envsecret("POSTURE_CREDENTIALS_PRIVATE_KEYS").split(",") if k.strip()
]
_EMBEDDED_CREDENTIAL_KEYS = not CREDENTIALS_PUBLIC_KEY and not CREDENTIALS_PRIVATE_KEYS
if _EMBEDDED_CREDENTIAL_KEYS:
    CREDENTIALS_PRIVATE_KEYS = [persistent_secret(DATA_DIR / "credentials_private_key")]
# Fernet keys of the scheme before sealed boxes: read only, so credentials stored before the
# upgrade still open until rotate_keys re-seals them. Never generated any more; the embedded
# mode's former key file is read if it is there.
_LEGACY_KEY_FILE = DATA_DIR / "encryption_key"
ENCRYPTION_KEYS = [
    k.strip()
    for k in (
        envsecret("POSTURE_ENCRYPTION_KEYS")
        or (
            _LEGACY_KEY_FILE.read_text()
            if _EMBEDDED_CREDENTIAL_KEYS and _LEGACY_KEY_FILE.exists()
            else ""
        )
    ).split(",")
    if k.strip()
]
ALLOWED_HOSTS = envlist("POSTURE_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("POSTURE_CSRF_TRUSTED_ORIGINS", "")
SITE_URL = env("POSTURE_SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    # Accounts (issue 12): login throttling and lock-out, TOTP second factor.
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    # Audit trail (issue 12): model changes as auditlog LogEntry rows (audit/apps.py registers
    # the models); before "audit" so that audit/admin.py can replace its admin.
    "auditlog",
    "posture",
    # Bottom to top: each app imports only those above it in this list (docs/ARCHITECTURE.md).
    # Roles, teams and the access policy every view declares; then the audit trail.
    "access",
    "audit",
    "hosts",
    "findings",
    "vulndb",
    "vulns",
    "policy",
    "scans",
    "fleet",
    "trends",
    "alerts",
    "accounts",
    # The REST API (issue 13): last, it may import every app above.
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Hardening: a signed-in session's expiry slides with use (POSTURE_SESSION_IDLE_MINUTES).
    "posture.middleware.IdleSessionMiddleware",
    # Accept-Language for visitors; accounts.middleware overrides it for a signed-in user.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Accounts: request.user.is_verified() (signed in with the second factor this session).
    "django_otp.middleware.OTPMiddleware",
    # API (issue 13): a Bearer token authenticates /api/ calls; before the audit middleware,
    # which reads the actor, and answers the access policy in JSON (401, 403) for /api/.
    "api.middleware.ApiTokenMiddleware",
    # Audit trail: who and from where, for the model changes auditlog records.
    "audit.middleware.AuditlogMiddleware",
    "accounts.middleware.UserLanguageMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Every view declares who may use it (access.policy); undeclared views answer 403.
    "access.policy.AccessPolicyMiddleware",
    # Accounts: admins without a second factor go to /account/mfa/ (POSTURE_REQUIRE_MFA_ADMINS).
    "accounts.middleware.AdminMfaMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "posture.middleware.SecurityHeadersMiddleware",
    # Accounts: turns a lock-out into the locked-out page; axes wants to be last.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "posture.urls"
WSGI_APPLICATION = "posture.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "access.context_processors.access",
                # The menu's current page and the header's fleet counters (issue 17).
                "posture.context_processors.nav",
                "fleet.context_processors.header_counts",
            ],
        },
    }
]


def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"POSTURE_METRICS_ALLOW: {cidr!r} is not a network") from None


DATABASES: dict[str, dict[str, Any]]
_db_engine = env("POSTURE_DB_ENGINE", "sqlite")
if _db_engine == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env("POSTURE_DB_NAME", str(DATA_DIR / "posture.sqlite3")),
            # WAL lets the web process read while a worker writes a scan.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file, not shared-cache memory: the test Celery worker writes from another
            # thread, and shared-cache SQLite raises "table is locked" instead of waiting.
            "TEST": {"NAME": env("POSTURE_TEST_DB_NAME", str(DATA_DIR / "test.sqlite3"))},
        }
    }
elif _db_engine == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": env("POSTURE_DB_NAME", "posture"),
            "USER": env("POSTURE_DB_USER", "posture"),
            "PASSWORD": envsecret("POSTURE_DB_PASSWORD"),
            "HOST": env("POSTURE_DB_HOST", "127.0.0.1"),
            "PORT": env("POSTURE_DB_PORT", "5432"),
            "CONN_MAX_AGE": envint("POSTURE_DB_CONN_MAX_AGE", 60, minimum=0),
            "CONN_HEALTH_CHECKS": True,
        }
    }
else:
    raise ImproperlyConfigured(f"POSTURE_DB_ENGINE must be sqlite or postgres, not {_db_engine!r}")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    # Accounts: 12 characters at least (issue 12); a passphrase beats composition rules.
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "fleet"
LOGOUT_REDIRECT_URL = "login"

# --- Accounts: login throttling (django-axes) and second factor (django-otp) ---------------
# Axes watches every authenticate() call (it needs the request: tests use force_login, or
# client.login(request=...)); ModelBackend then checks the password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Locked per username AND address: a guesser from one address cannot lock a person out from
# everywhere, and one address cannot try every account. Lift a lock before its cool-off with
# `manage.py axes_reset` (everything), `axes_reset_username NAME` or `axes_reset_ip ADDR`.
# Behind a proxy the address is REMOTE_ADDR as the proxy hands it on (as in the audit trail).
AXES_FAILURE_LIMIT = envint("POSTURE_LOGIN_FAILURES", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=envint("POSTURE_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Masked in the POST data axes keeps of a failed attempt (the password always is).
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp_token"]
# Admins without a confirmed authenticator are sent to enroll one before any other page.
POSTURE_REQUIRE_MFA_ADMINS = envbool("POSTURE_REQUIRE_MFA_ADMINS", False)
# The name authenticator apps show beside the account.
OTP_TOTP_ISSUER = "Posture"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
TIME_ZONE = env("POSTURE_TIME_ZONE", "UTC")
USE_I18N = True
# The compiled .mo files are committed beside the .po (tests/accounts checks they match).
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("POSTURE_STATIC_ROOT", str(DATA_DIR / "static")))

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = envbool("POSTURE_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if envbool("POSTURE_BEHIND_TLS_PROXY", False) else None
)

# --- Hardening: HTTPS only, idle sessions (issue 12) -----------------------------------
# docker-compose.yml turns HTTPS on (behind a TLS proxy) and `manage.py check --deploy`
# passes with it; the embedded mode (scripts/run, the tests) serves plain http on
# 127.0.0.1, so every default here is off. README, "Hardening", lists them.
SECURE_SSL_REDIRECT = envbool("POSTURE_SSL_REDIRECT", False)
# Container health checks ask http://127.0.0.1:8000/healthz (and /readyz) from inside the
# container, where no proxy adds X-Forwarded-Proto: a redirect would read as a failure.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# Browsers then refuse plain http to this name for that long: set it once HTTPS works.
SECURE_HSTS_SECONDS = envint("POSTURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("POSTURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("POSTURE_HSTS_PRELOAD", False)
# Idle limit: posture.middleware.IdleSessionMiddleware slides the expiry forward at most
# once a minute, so a session ends this long after its last request, to the minute.
SESSION_COOKIE_AGE = envint("POSTURE_SESSION_IDLE_MINUTES", 60, minimum=5) * 60

# --- Celery -------------------------------------------------------------------------
# Only JSON crosses the broker (no pickle) and task payloads carry ids, never credentials.
# Hardening: a Redis URL carries its password, so production reads it from a secret file
# (POSTURE_BROKER_URL_FILE), like every other secret.
CELERY_BROKER_URL = envsecret("POSTURE_BROKER_URL") or "filesystem://"
_broker_dir = DATA_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # Broadcast state; without this kombu writes ./control in the working directory.
        "control_folder": str(_broker_dir / "control"),
    }
else:
    # Longer than the longest scan, far below Redis' one-hour default which would
    # redeliver a slow task to a second worker while the first still runs it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": envint("POSTURE_VISIBILITY_TIMEOUT", 900, minimum=10),
        # Look for a killed worker's unacknowledged messages every 10 s, not every 10th
        # sweep (kombu's default), so they come back soon after the visibility timeout.
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
        # Queues in the order of CELERY_TASK_QUEUES: a worker takes background work only
        # when no scan or dispatch waits (see CELERY_TASK_QUEUES below).
        "queue_order_strategy": "priority",
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker whose broker is down reconnects until it is back (Celery gives up after 100
# tries by default, ~50 min, and the worker exits); lost messages are sent again by
# scans.services.redispatch_lost.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TIMEZONE = TIME_ZONE
# Past the scan's own deadline a task is stuck in C code or a dead socket: stop it.
CELERY_TASK_SOFT_TIME_LIMIT = envint("POSTURE_SCAN_DEADLINE", 120, minimum=5) + 30
CELERY_TASK_TIME_LIMIT = envint("POSTURE_SCAN_DEADLINE", 120, minimum=5) + 60
# Two queues, both consumed by every worker (a worker with no -Q takes all of them): scans
# and their dispatch on one, the work scans cause (alerts, reports, rollups) on the other,
# taken only when no scan waits. One FIFO queue let a fleet-wide change (every container
# recreated: ~190,000 alert events, docs/BENCHMARKS.md) hold the next dispatch back for
# minutes; taking the two in turn instead slowed the scan cycle itself by as much.
CELERY_TASK_DEFAULT_QUEUE = "scans"
CELERY_TASK_QUEUES = [
    Queue("scans", routing_key="scans"),
    Queue("background", routing_key="background"),
]
CELERY_TASK_ROUTES = {
    "alerts.tasks.*": {"queue": "background"},
    "trends.tasks.*": {"queue": "background"},
    "policy.tasks.*": {"queue": "background"},
    "scans.tasks.prune_history": {"queue": "background"},
}
CELERY_BEAT_SCHEDULE = {
    "dispatch-due-scans": {
        "task": "scans.tasks.dispatch_due_scans",
        "schedule": float(envint("POSTURE_DISPATCH_EVERY", 30, minimum=1)),
    },
    "prune-history": {"task": "scans.tasks.prune_history", "schedule": 6 * 3600.0},
    # Daily score rollup for the trend charts, and report emails once their period is over.
    "rollup-scores": {"task": "trends.tasks.rollup_scores", "schedule": 3600.0},
    # Cheap when nothing changed (one query): inventories follow new vulnerability data.
    "rematch-inventories": {"task": "vulns.tasks.rematch_inventories", "schedule": 60.0},
    "send-due-reports": {"task": "trends.tasks.send_due_reports", "schedule": 3600.0},
    # Held alerts (daily digests, quiet hours, rate-limited bursts) and anything a lost
    # task left unsent.
    "alerts-send-due": {
        "task": "alerts.tasks.send_due",
        "schedule": float(envint("POSTURE_ALERTS_SWEEP_EVERY", 300, minimum=10)),
    },
    # Risk exceptions that expired since the last run: rescan the hosts they covered, so
    # their findings count again without waiting for the hosts' next slot.
    "expire-exceptions": {
        "task": "policy.tasks.expire_exceptions",
        "schedule": float(envint("POSTURE_EXCEPTIONS_SWEEP_EVERY", 300, minimum=10)),
    },
    # The vulnerability data drop folder (POSTURE_VULNDB_DIR): imported when its files
    # changed; one listing of the folder when they did not.
    "vulndb-import-drop-folder": {
        "task": "vulndb.tasks.import_drop_folder",
        "schedule": float(envint("POSTURE_VULNDB_SCAN_EVERY", 300, minimum=10)),
        "options": {"queue": "background"},
    },
}

# Inventory as code: the only directory an inventory POSTed to the API may take key files from.
POSTURE_INVENTORY_SECRETS_DIR = env("POSTURE_INVENTORY_SECRETS_DIR", "")  # docs/INVENTORY.md
# --- Image scanning (vulns) --------------------------------------------------------
# Default for hosts whose "image scanning" is left on default: off, os or deep.
POSTURE_IMAGE_SCAN = env("POSTURE_IMAGE_SCAN", "os")
if POSTURE_IMAGE_SCAN not in ("off", "os", "deep"):
    raise ImproperlyConfigured("POSTURE_IMAGE_SCAN must be off, os or deep")
POSTURE_IMAGE_INVENTORY = {
    # Bytes of package databases kept per image, and of image streamed in deep mode.
    "MAX_FILES_BYTES": envint("POSTURE_IMAGE_MAX_FILES_MB", 64, minimum=1) * 2**20,
    "MAX_STREAM_BYTES": envint("POSTURE_IMAGE_MAX_STREAM_MB", 20480, minimum=1) * 2**20,
    # Inventories read per host scan at most: the rest wait for the next scan, so that a
    # host with hundreds of new images does not blow its scan deadline.
    "PER_SCAN": envint("POSTURE_IMAGE_INVENTORIES_PER_SCAN", 20, minimum=1),
    # A claim older than this is taken over (the worker reading it died).
    "LEASE_SECONDS": envint("POSTURE_IMAGE_LEASE_SECONDS", 300, minimum=10),
}

# --- Target policy (issue 12: what hosts may be reached) ---------------------------
# Comma-separated NETWORK[:PORTS] entries (`10.0.0.0/8:2376,192.168.1.0/24:22,2376`, `*` for
# any address), checked by hosts.targets against every address a host's name resolves to,
# at connect time. Empty: any address except link-local, cloud metadata, 0.0.0.0/8,
# multicast and broadcast, which only an entry naming them lets through
# (docs/LEAST_PRIVILEGE.md).
POSTURE_ALLOWED_TARGETS = env("POSTURE_ALLOWED_TARGETS", "")

# --- Scanning -----------------------------------------------------------------------
POSTURE_SCAN = {
    # Whole-scan budget: docker-py's timeout applies per socket read only.
    "DEADLINE": envint("POSTURE_SCAN_DEADLINE", 120, minimum=5),
    "CONNECT_TIMEOUT": envint("POSTURE_CONNECT_TIMEOUT", 10, minimum=1),
    "READ_TIMEOUT": envint("POSTURE_READ_TIMEOUT", 30, minimum=1),
    # Daemons are untrusted: no single response may exceed this many bytes.
    "MAX_RESPONSE_BYTES": envint("POSTURE_MAX_RESPONSE_BYTES", 32 * 1024 * 1024, minimum=1024),
    # ...and no single inspect (a container, an image, its history) this many: listings
    # grow with the host, one object does not, and parsed JSON costs ~25x its bytes.
    "MAX_OBJECT_BYTES": envint("POSTURE_MAX_OBJECT_BYTES", 4 * 1024 * 1024, minimum=1024),
    "POOL_SIZE": envint("POSTURE_POOL_SIZE", 4, minimum=1),
    "DEFAULT_INTERVAL_MINUTES": envint("POSTURE_DEFAULT_INTERVAL", 15, minimum=1),
    # Scan runs older than this are deleted (score samples and findings are kept).
    "RETENTION_DAYS": envint("POSTURE_SCANRUN_RETENTION_DAYS", 30, minimum=1),
    # A running scan holds its host for DEADLINE + LEASE_GRACE (rules and storage happen
    # after collection); past that its worker is presumed dead and the scan runs again.
    "LEASE_GRACE": envint("POSTURE_SCAN_LEASE_GRACE", 60, minimum=1),
    # Transient errors (unreachable, daemon error) are retried on the same run:
    # up to ATTEMPTS tries, waiting RETRY_BASE * 2^n seconds (capped, with jitter) between.
    "ATTEMPTS": envint("POSTURE_SCAN_ATTEMPTS", 3, minimum=1),
    "RETRY_BASE": envint("POSTURE_SCAN_RETRY_BASE", 15, minimum=0),
    "RETRY_CAP": envint("POSTURE_SCAN_RETRY_CAP", 300, minimum=0),
    # A host whose last good picture is older than this many scan intervals is stale.
    "STALE_AFTER_INTERVALS": envint("POSTURE_STALE_AFTER_INTERVALS", 3, minimum=1),
}

# --- Prometheus metrics (/metrics) -------------------------------------------------------
# Signed-in users always; Prometheus with a bearer token, or from an allow-listed address.
POSTURE_METRICS = {
    "TOKEN": envsecret("POSTURE_METRICS_TOKEN"),
    "ALLOW": [_network(cidr) for cidr in envlist("POSTURE_METRICS_ALLOW", "")],
}

# --- Mail (alerts, scheduled reports) ----------------------------------------------------
# Without POSTURE_SMTP_HOST mail goes to the console log: the embedded default has no relay.
EMAIL_HOST = env("POSTURE_SMTP_HOST")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = envint("POSTURE_SMTP_PORT", 587, minimum=1)
EMAIL_HOST_USER = env("POSTURE_SMTP_USER")
EMAIL_HOST_PASSWORD = envsecret("POSTURE_SMTP_PASSWORD")
EMAIL_USE_TLS = envbool("POSTURE_SMTP_STARTTLS", True)
EMAIL_TIMEOUT = envint("POSTURE_SMTP_TIMEOUT", 20, minimum=1)
DEFAULT_FROM_EMAIL = env("POSTURE_MAIL_FROM", "Posture <posture@localhost>")
# Links in mail must be absolute; there is no request to build them from in a worker.
POSTURE_BASE_URL = SITE_URL.rstrip("/")

# --- Alerts -------------------------------------------------------------------------------
# Seconds the trends page keeps its computed figures (per filters, language and day);
# 0 computes them on every request.
POSTURE_TRENDS_CACHE_SECONDS = envint("POSTURE_TRENDS_CACHE_SECONDS", 60, minimum=0)
# Seconds the header's fleet counters (hosts, failing, scan errors) are kept per account
# scope on pages other than the fleet's, which counts afresh; 0 counts on every page.
POSTURE_HEADER_COUNTS_SECONDS = envint("POSTURE_HEADER_COUNTS_SECONDS", 15, minimum=0)
POSTURE_ALERTS = {
    # A score this many points below the previous successful scan's is a regression.
    "SCORE_DROP": envint("POSTURE_ALERTS_SCORE_DROP", 10, minimum=1),
    # A host is reported after this many consecutive failed scans.
    "FAILURES": envint("POSTURE_ALERTS_FAILURES", 3, minimum=1),
    # Mails per subscriber per hour; beyond it, messages are folded into one digest.
    "RATE_LIMIT_PER_HOUR": envint("POSTURE_ALERTS_RATE_LIMIT", 20, minimum=1),
    # Local hour (subscription's time zone) at which daily digests go out.
    "DIGEST_HOUR": envint("POSTURE_ALERTS_DIGEST_HOUR", 8, minimum=0),
}
# Alert channels (Slack, Teams, webhooks): seconds to connect, and to read an answer.
POSTURE_ALERT_CHANNEL_TIMEOUT = envint("POSTURE_ALERT_CHANNEL_TIMEOUT", 10, minimum=1)

# --- Vulnerability data (vulndb) ----------------------------------------------------------
# A folder that ops fill with OSV zips/JSON, the KEV catalogue and EPSS CSVs (from cron or
# a mirror); beat imports it when its files change. Unset: no drop folder.
POSTURE_VULNDB_DIR = env("POSTURE_VULNDB_DIR", "")
# Pages and `vulndb status` warn when the newest data is older than this many days.
POSTURE_VULNDB_MAX_AGE_DAYS = envint("POSTURE_VULNDB_MAX_AGE_DAYS", 7, minimum=1)
# An import of a whole OSV corpus takes minutes, far past the scans' task time limits.
POSTURE_VULNDB_IMPORT_TIME_LIMIT = envint("POSTURE_VULNDB_IMPORT_TIME_LIMIT", 3600, minimum=60)

# --- Audit trail --------------------------------------------------------------------------
# Audit events and model change entries older than this many days are deleted by a daily
# sweep (audit.tasks.prune_audit); the only deletion the database allows (audit/migrations).
POSTURE_AUDIT_RETENTION_DAYS = envint("POSTURE_AUDIT_RETENTION_DAYS", 365, minimum=30)
CELERY_TASK_ROUTES["audit.tasks.*"] = {"queue": "background"}
CELERY_BEAT_SCHEDULE["prune-audit"] = {"task": "audit.tasks.prune_audit", "schedule": 24 * 3600.0}
# auditlog keeps changes as JSON (not text) and never a serialized copy of the row.
AUDITLOG_STORE_JSON_CHANGES = True

# --- Four eyes (policy) ------------------------------------------------------------------
# On: every risk exception and rule override waits for an approver other than its requester
# before it applies. Off: an approver's own request applies at once (an operator's request
# always waits, whatever this says).
POSTURE_FOUR_EYES = envbool("POSTURE_FOUR_EYES", False)

# --- REST API (issue 13): posture/settings_api.py --------------------------------------
POSTURE_API = settings_api.POSTURE_API
CACHES = settings_api.caches(DATA_DIR, CELERY_BROKER_URL)
REST_FRAMEWORK = settings_api.REST_FRAMEWORK
SPECTACULAR_SETTINGS = settings_api.SPECTACULAR_SETTINGS

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("POSTURE_LOG_LEVEL", "INFO")},
    "loggers": {
        "paramiko": {"level": "WARNING"},
        # Accounts: axes logs each sign-in and its bookkeeping at INFO (the audit trail has
        # the sign-ins); its failures and lock-outs are WARNINGs and stay.
        "axes": {"level": "WARNING"},
    },
}
