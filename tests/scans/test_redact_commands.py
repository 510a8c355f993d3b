"""Secrets in command lines, labels and image history are hidden before storage; harmless
arguments are left as they are, and the secret rules still see that a secret was there."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rules.base import Outcome
from rules.container_secrets import container_secrets, image_secrets
from rules.facts import ContainerFacts, ImageFacts
from scans.redact import (
    MASK,
    redact_argv,
    redact_container,
    redact_env,
    redact_history,
    redact_image,
    redact_labels,
    redact_text,
)

# (a shell string or a history line, the secret it holds)
SECRET_TEXT = [
    ("mysql --password=Sup3rS3cret -e 'select 1'", "Sup3rS3cret"),
    ('app --db-password="correct horse" --verbose', "correct horse"),
    ("app --token abc123xyz789 serve", "abc123xyz789"),
    ("app -password=hunter22", "hunter22"),
    ("redis-server --requirepass r3d1sPW --appendonly yes", "r3d1sPW"),
    ("mysqldump -u root -pSqlR00t shop > /dump.sql", "SqlR00t"),
    ("sshpass -p 'ssh pw1' ssh ops@host", "ssh pw1"),
    ("redis-cli -h cache -a Cach3Pw ping", "Cach3Pw"),
    ("curl -fsS -u deploy:t0ps3cret https://repo.example/x.tgz", "t0ps3cret"),
    ("curl -H 'Authorization: Bearer eyJhbGciOi.J9xyz' https://x", "eyJhbGciOi.J9xyz"),
    ("git clone https://bob:pa55word@git.example.com/app.git", "pa55word"),
    ("worker --broker amqp://svc:Rabb1tPw@mq:5672//", "Rabb1tPw"),
    ("java -Dspring.datasource.password=J4vaPw -jar app.jar", "J4vaPw"),
    ("env API_TOKEN=tok_live_42 ./run", "tok_live_42"),
    ("docker run -e DB_PASSWORD=Dock3rPw app", "Dock3rPw"),
    ("/bin/sh -c export GITHUB_TOKEN=ghp_abcdef123456 && ./release", "ghp_abcdef123456"),
    ("RUN |1 NPM_TOKEN=npm_abc123def456 /bin/sh -c npm ci", "npm_abc123def456"),
    ("/bin/sh -c #(nop)  ARG DB_PASSWORD=defaultpw", "defaultpw"),
    ("ARG API_KEY=k3y-default", "k3y-default"),
    ("docker build --build-arg SECRET_KEY=bu1ldArg .", "bu1ldArg"),
    ("/bin/sh -c #(nop)  LABEL com.example.api-token=lab3lTok", "lab3lTok"),
]

HARMLESS_TEXT = [
    "nginx -g 'daemon off;'",
    "docker run -p 8080:80 -p 443:443 nginx",
    "mkdir -p /app && chown app /app",
    "ssh -p 2222 ops@host",
    "postgres -c password_encryption=scram-sha-256 -c max_connections=200",
    "app --password-file=/run/secrets/db --token-file /run/secrets/tok",
    "app --password=$DB_PASSWORD --token ${API_TOKEN}",
    "app --tlskey=/certs/key.pem --key /certs/client.key --tlsverify",
    "mysql -p shop",  # -p then a space: mysql prompts; shop is the database
    "echo $PASSWORD | docker login --password-stdin -u ci registry.example",
    "redis-server --port 6379 --save ''",
    "gunicorn app:wsgi --bind 0.0.0.0:8000 --workers 3",
    "curl -fsSL https://example.com/install.sh",
    "RUN |2 VERSION=1.4 TARGETARCH=amd64 /bin/sh -c make",
    "/bin/sh -c apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*",
    "/bin/sh -c #(nop)  ENV POSTGRES_PASSWORD=<redacted>",
    "java -Xmx512m -Dfile.encoding=UTF-8 -jar app.jar",
]


@pytest.mark.parametrize(("text", "secret"), SECRET_TEXT)
def test_secrets_in_command_lines_are_hidden(text: str, secret: str) -> None:
    hidden = redact_text(text)
    assert secret not in hidden and MASK in hidden
    assert redact_history([{"CreatedBy": text}])[0]["CreatedBy"] == hidden


@pytest.mark.parametrize("text", HARMLESS_TEXT)
def test_harmless_command_lines_are_left_alone(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["app", "--password", "pw1", "--port", "80"], ["app", "--password", MASK, "--port", "80"]),
        (["app", "--token=tk1"], ["app", f"--token={MASK}"]),
        (["sshpass", "-p", "pw2", "ssh", "h"], ["sshpass", "-p", MASK, "ssh", "h"]),
        (["sshpass", "-ppw3", "ssh", "h"], ["sshpass", f"-p{MASK}", "ssh", "h"]),
        (["redis-cli", "-a", "pw4", "ping"], ["redis-cli", "-a", MASK, "ping"]),
        (["mysql", "-upos", "-ppw5", "db"], ["mysql", "-upos", f"-p{MASK}", "db"]),
        (["/bin/sh", "-c", "mysql --password=pw6"], ["/bin/sh", "-c", f"mysql --password={MASK}"]),
        (["app", "--password", "$PW"], ["app", "--password", "$PW"]),
        (["app", "--password", "--verbose"], ["app", "--password", "--verbose"]),
        (["nginx", "-p", "/etc/nginx", "-g", "daemon off;"], None),
        (["ssh", "-p", "2222", "host"], None),
        (["python", "-m", "http.server", "8000"], None),
        ("app --token=tk7", f"app --token={MASK}"),
        (None, None),
    ],
)
def test_exec_form_commands(argv: Any, expected: Any) -> None:
    assert redact_argv(argv) == (argv if expected is None else expected)


def test_container_args_are_redacted_with_their_program() -> None:
    inspect = {"Path": "redis-cli", "Args": ["-a", "pw8", "monitor"], "Config": {}}
    assert redact_container(inspect)["Args"] == ["-a", MASK, "monitor"]


LABELS = {
    "com.example.db-password": "Lab3lPw",
    "com.example.deploy.api-token": "tok_9fQ2xLr7VbK3mZp8TnW4cYh6",
    "com.example.license-key": "LIC-1234-5678",
    "backup.target": "s3://AKIA:wJalrXUtnFEMI@bucket.example/backups",
    # left alone
    "com.example.db-password-file": "/run/secrets/db",
    "com.example.password": "$DB_PASSWORD",
    "org.opencontainers.image.revision": "0f3c2a9e1b7d",
    "com.docker.compose.config-hash": "9b1f0e6a5c3d2e8f",
    "com.example.gpg-key": "0x1234ABCD",
    "maintainer": "ops@example.com",
    "traefik.http.routers.web.rule": "Host(`example.com`)",
}


def test_label_values_under_secret_keys_are_hidden() -> None:
    out = redact_labels(dict(LABELS))
    assert out["com.example.db-password"] == MASK
    assert out["com.example.deploy.api-token"] == MASK
    assert out["com.example.license-key"] == MASK
    assert out["backup.target"] == f"s3://AKIA:{MASK}@bucket.example/backups"
    kept = list(LABELS)[4:]
    assert {k: out[k] for k in kept} == {k: LABELS[k] for k in kept}


def env_only(inspect: dict[str, Any]) -> dict[str, Any]:
    """What the collector stored before command lines and labels were redacted: the rules'
    verdict on it is the one to keep."""
    out = copy.deepcopy(inspect)
    config = out["Config"]
    config["Env"], config["PostureEnvMeta"] = redact_env(config["Env"])
    return out


def inspected_container() -> dict[str, Any]:
    return {
        "Path": "/entrypoint.sh",
        "Args": ["--admin-password", "Adm1nPw", "--listen", ":80"],
        "Config": {
            "Cmd": ["serve", "--token=CmdT0k"],
            "Entrypoint": ["/entrypoint.sh"],
            "Env": ["PATH=/usr/bin"],
            "Labels": {"com.example.deploy.api-token": "tok_9fQ2xLr7VbK3mZp8TnW4cYh6"},
            "Healthcheck": {"Test": ["CMD", "redis-cli", "-a", "Hea1thPw", "ping"]},
        },
    }


def test_a_container_keeps_no_secret_and_its_rule_still_fails() -> None:
    raw = inspected_container()
    before = container_secrets(ContainerFacts(id="c", inspect=env_only(raw)))
    stored = redact_container(raw)

    for secret in ("Adm1nPw", "CmdT0k", "tok_9fQ2", "Hea1thPw"):
        assert secret not in repr(stored)
    assert stored["Config"]["Healthcheck"]["Test"] == ["CMD", "redis-cli", "-a", MASK, "ping"]
    after = container_secrets(ContainerFacts(id="c", inspect=stored))
    assert before.outcome is after.outcome is Outcome.FAIL
    assert [e.field for e in after.evidence] == [e.field for e in before.evidence]


def test_an_image_keeps_no_secret_and_its_rule_still_fails() -> None:
    inspect = {
        "Config": {
            "Cmd": ["/bin/sh", "-c", "app --password=ImgPw1"],
            "Env": ["API_TOKEN=ImgEnvTok"],
            "Labels": {"db.password": "ImgLab3l"},
            "OnBuild": ["RUN npm ci --token=OnBu1ld"],
        },
        "ContainerConfig": {"Cmd": ["/bin/sh", "-c", "#(nop) ", "ENV API_TOKEN=ImgEnvTok"]},
    }
    history = [
        {"CreatedBy": "RUN |1 NPM_TOKEN=npm_abc123def456 /bin/sh -c npm ci"},
        {"CreatedBy": "/bin/sh -c git clone https://bob:pa55word@git.example.com/app.git"},
        {"CreatedBy": "/bin/sh -c curl -H 'Authorization: Bearer eyJhbGciOi.J9xyz' https://x"},
        {"CreatedBy": "/bin/sh -c curl -u deploy:t0ps3cret https://repo.example/x.tgz"},
        {"CreatedBy": "/bin/sh -c apk add curl"},
    ]
    before = image_secrets(ImageFacts(id="i", inspect=env_only(inspect), history=history))
    stored = ImageFacts(
        id="i", inspect=redact_image(inspect), history=redact_history(copy.deepcopy(history))
    )

    text = repr(stored)
    for secret in (
        "ImgPw1",
        "ImgEnvTok",
        "ImgLab3l",
        "OnBu1ld",
        "npm_abc",
        "pa55word",
        "eyJh",
        "t0ps3",
    ):
        assert secret not in text
    after = image_secrets(stored)
    assert before.outcome is after.outcome is Outcome.FAIL
    # Every history line that held a secret is still reported: the rule sees it WAS there.
    assert [e.field for e in after.evidence] == [e.field for e in before.evidence]
    assert "history[3].CreatedBy" in [e.field for e in after.evidence]
