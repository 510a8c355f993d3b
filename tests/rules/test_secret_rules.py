"""OWASP rule 12: secrets in environment variables, labels and image history.

The corpora are measured exactly as the collector measures them (scans.redact), so the
tests see what the rules see: a name, a length and an entropy, never the value.
"""

from __future__ import annotations

import pytest

from rules.base import Outcome
from rules.secrets import judge, judge_label, scan_command
from scans.redact import redact_env
from tests.factories import check, container, evidence, image

# Realistic values from official images and everyday deployments: none is a secret.
NOT_SECRETS = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "HOSTNAME=4f1c2a9e8b7d",
    "LANG=C.UTF-8",
    "LC_ALL=en_US.UTF-8",
    "TZ=Europe/Paris",
    "TERM=xterm",
    "PWD=/app",
    "JAVA_HOME=/opt/java/openjdk",
    "JAVA_VERSION=jdk-21.0.5+11",
    "JAVA_OPTS=-Xms256m -Xmx2g -XX:+UseG1GC -Dfile.encoding=UTF-8",
    "NODE_VERSION=20.18.0",
    "YARN_VERSION=1.22.22",
    "PYTHON_VERSION=3.12.7",
    "PYTHONUNBUFFERED=1",
    "PYTHONDONTWRITEBYTECODE=1",
    "PIP_NO_CACHE_DIR=off",
    # A public key fingerprint: random-looking, public by design (python and others ship it).
    "GPG_KEY=7169605F62C751356D054A26A821E680E5FA6305",
    "PYTHON_SHA256=24887b92e2afd4a2ac602419ad4b596372f67ac9b077190f459aba390faf5550",
    "NODE_SHA256=a2a6d5e4ff1e1e3e8ff7c7e8c4f19d2bb7c12e0ffb8d7e4b2e9e0b5c5f9a8c6d",
    "GOLANG_VERSION=1.23.2",
    "GOPATH=/go",
    "GOTOOLCHAIN=local",
    "PHPIZE_DEPS=autoconf dpkg-dev file g++ gcc libc-dev make pkg-config re2c",
    "PHP_INI_DIR=/usr/local/etc/php",
    "PHP_CFLAGS=-fstack-protector-strong -fpic -fpie -O2 -D_LARGEFILE_SOURCE",
    "RUBY_DOWNLOAD_SHA256=018d59ffb52be3c0a6d847e22d3fd7a2c52d0ddfee249d3517a0c8c6dbfa70af",
    "GEM_HOME=/usr/local/bundle",
    "NGINX_VERSION=1.27.2",
    "NJS_VERSION=0.8.7",
    "PKG_RELEASE=1~bookworm",
    "DATABASE_HOST=db.internal",
    "DATABASE_PORT=5432",
    "POSTGRES_USER=app",
    "POSTGRES_DB=app",
    # The Docker secrets idiom: a path to the secret, not the secret.
    "POSTGRES_PASSWORD_FILE=/run/secrets/db_password",
    "MYSQL_ROOT_PASSWORD_FILE=/run/secrets/mysql_root",
    "AUTH_ENABLED=true",
    "AUTH_SOURCE=admin",
    "TOKEN_TTL=3600",
    "JWT_ALGORITHM=RS256",
    "OAUTH_ISSUER_URL=https://login.example.com/realms/app",
    "AWS_REGION=eu-west-3",
    "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",  # an identifier; its secret half is below
    "SENTRY_ENVIRONMENT=production",
    "LOG_LEVEL=info",
    "SPRING_PROFILES_ACTIVE=prod,metrics",
    "NODE_ENV=production",
    "GIT_COMMIT=3f786850e387550fdab836ed7e6dc881de23001b",
    "BUILD_ID=2024-11-02T10:14:55Z-build-1842",
    "API_BASE_URL=https://api.example.com/v2/",
    "EMPTY_PASSWORD=",
]
SECRETS = [
    "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "POSTGRES_PASSWORD=s3cr3t-Passw0rd",
    "MYSQL_ROOT_PASSWORD=root",
    "DJANGO_SECRET_KEY=django-insecure-8x!k2#m@q9z$w7e&r4t*y6u",
    "GITHUB_TOKEN=ghp_R8x2Lq9TzW4vY7bN1mK3pC6dF0hJ5sA2eU8i",
    "NPM_TOKEN=npm_Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LzXcVbNm",
    "STRIPE_API_KEY=sk_live_51H8xYzAbCdEfGhIjKlMnOpQr",
    "REDIS_PASS=hunter2hunter2",
    "BASIC_AUTH=admin:changeme",
    "OAUTH_CLIENT_SECRET=9d1f0c6e-4a7b-4c2d-9e8f-1a2b3c4d5e6f",
    "SLACK_WEBHOOK_TOKEN=xoxb-2481-2951-Zq8Wm3Kp9Lr2Tn5Vb7Xc",
    "PRIVATE_KEY=-----BEGIN OPENSSH PRIVATE KEY-----b3BlbnNzaC1rZXktdjEAAAAA",
    "app.credentials=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc",
    "apiKey=AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
    # Names that say nothing, values that look like keys.
    "UPSTREAM_X=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdo",
    "SETTING_Q=q8Z2nV7xL4pR9wK3mT6yB1cH5jF0dS8g",
]


def measured(items: list[str]) -> list[tuple[str, int, float]]:
    _, meta = redact_env(items)
    return [(m["name"], m["length"], m["entropy"]) for m in meta]


@pytest.mark.parametrize("item", NOT_SECRETS)
def test_no_false_positive_on_realistic_variables(item):
    ((name, length, bits),) = measured([item])
    assert judge(name, length, bits) is None, item


@pytest.mark.parametrize("item", SECRETS)
def test_secrets_are_found(item):
    ((name, length, bits),) = measured([item])
    assert judge(name, length, bits) is not None, item


def test_corpora_are_big_enough_to_mean_something():
    assert len(NOT_SECRETS) >= 40 and len(SECRETS) >= 15


def env_container(items: list[str], labels: dict[str, str] | None = None):
    env, meta = redact_env(items)
    return container(
        {"Config.Env": env, "Config.PostureEnvMeta": meta, "Config.Labels": labels or {}}
    )


def test_container_secret_evidence_names_the_variable_never_the_value():
    result = check("CTR-SECRETS", env_container(NOT_SECRETS + SECRETS[:1]))
    assert result.outcome is Outcome.FAIL
    shown = evidence(result)
    assert list(shown) == ["Config.Env[AWS_SECRET_ACCESS_KEY]"]
    assert shown["Config.Env[AWS_SECRET_ACCESS_KEY]"].startswith('"<redacted, 40 chars')
    assert "wJalr" not in str(result)


def test_container_without_secrets_passes():
    assert check("CTR-SECRETS", env_container(NOT_SECRETS)).outcome is Outcome.PASS
    assert check("CTR-SECRETS", container()).outcome is Outcome.PASS  # Env null


def test_unmeasured_environment_is_unknown():
    result = check("CTR-SECRETS", container({"Config.Env": ["A=<redacted>"]}))
    assert result.outcome is Outcome.UNKNOWN


LABELS_OK = {
    "org.opencontainers.image.revision": "3f786850e387550fdab836ed7e6dc881de23001b",
    "org.opencontainers.image.source": "https://github.com/example/app",
    "com.docker.compose.config-hash": "9c1e3f0b2a4d6e8f0a1b2c3d4e5f6071"
    "8293a4b5c6d7e8f9a0b1c2d3e4f5a6b7",
    "com.docker.compose.project": "shop",
    "maintainer": "Ops <ops@example.com>",
    "traefik.http.routers.app.rule": "Host(`app.example.com`)",
    "com.example.token-endpoint": "https://login.example.com/token",
    "com.example.db-password-file": "/run/secrets/db",
}
LABELS_SECRET = {
    "com.example.deploy.api-token": "tok_9fQ2xLr7VbK3mZp8TnW4cYh6",
    "backup.target": "s3://AKIA:wJalrXUtnFEMI@bucket.example/backups",
    "db.password": "correct horse battery staple",
}


def test_label_values_are_judged_by_key_and_url_credentials():
    assert [k for k, v in LABELS_OK.items() if judge_label(k, v)] == []
    assert [k for k, v in LABELS_SECRET.items() if judge_label(k, v)] == list(LABELS_SECRET)


def test_label_evidence_prints_key_length_and_entropy_only():
    result = check("CTR-SECRETS", env_container([], {**LABELS_OK, **LABELS_SECRET}))
    assert result.outcome is Outcome.FAIL
    shown = evidence(result)
    assert set(shown) == {f"Config.Labels[{k}]" for k in LABELS_SECRET}
    for value in LABELS_SECRET.values():
        assert value not in str(result)
    assert "chars, entropy" in shown["Config.Labels[db.password]"]


@pytest.mark.parametrize(
    ("line", "hidden"),
    [
        ("RUN |1 NPM_TOKEN=npm_abc123def456 /bin/sh -c npm ci", "npm_abc123def456"),
        ("/bin/sh -c mysql --password=Sup3rS3cret -e 'select 1'", "Sup3rS3cret"),
        ("/bin/sh -c curl -u deploy:t0ps3cret https://repo.example/x.tgz", "t0ps3cret"),
        ("/bin/sh -c git clone https://bob:pa55word@git.example.com/app.git", "pa55word"),
        (
            "/bin/sh -c curl -H 'Authorization: Bearer eyJhbGciOi.J9xyz' https://x",
            "eyJhbGciOi.J9xyz",
        ),
        ("RUN /bin/sh -c export API_TOKEN=abc123xyz && ./deploy", "abc123xyz"),
    ],
)
def test_history_secrets_are_found_and_hidden(line, hidden):
    shown, count = scan_command(line)
    assert count >= 1 and hidden not in shown


@pytest.mark.parametrize(
    "line",
    [
        "/bin/sh -c #(nop)  ENV POSTGRES_PASSWORD=<redacted>",
        "RUN /bin/sh -c ./configure --with-password-file=/etc/pw && make",
        "/bin/sh -c npm ci --token $NPM_TOKEN",
        "/bin/sh -c mkdir -p /app && chown app /app",
        "/bin/sh -c apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*",
        "/bin/sh -c pip install --no-cache-dir -r requirements.txt",
        "RUN |2 VERSION=1.4 TARGETARCH=amd64 /bin/sh -c make",
    ],
)
def test_history_without_secrets_is_quiet(line):
    assert scan_command(line) == (line, 0)


def test_image_secret_in_history_fails_without_echoing_it():
    history = [
        {"CreatedBy": "RUN |1 NPM_TOKEN=npm_abc123def456 /bin/sh -c npm ci"},
        {"CreatedBy": "/bin/sh -c #(nop) ADD file:abc in / "},
    ]
    result = check("IMG-SECRETS", image(history=history))
    assert result.outcome is Outcome.FAIL
    assert "npm_abc123def456" not in str(result)
    assert "history[0].CreatedBy" in evidence(result)


def test_image_env_secret_fails_and_clean_image_passes():
    env, meta = redact_env(["GITHUB_TOKEN=ghp_R8x2Lq9TzW4vY7bN1mK3pC6dF0hJ5sA2eU8i"])
    dirty = image({"Config.Env": env, "Config.PostureEnvMeta": meta})
    assert check("IMG-SECRETS", dirty).outcome is Outcome.FAIL
    assert check("IMG-SECRETS", image()).outcome is Outcome.PASS
