"""Secret detection for OWASP cheat sheet rule 12 (and CIS 4.10), tuned for few false alarms.

Environment values never reach the rules (scans.redact keeps a name, a length and a Shannon
entropy per variable), so environment variables are judged by name first and, for names
that say nothing, by the shape of the value: long and close to random. Label values and
image history lines are seen in full; they are judged by key or flag name, and no evidence
ever repeats a value: it says how long it was and how random it looked.

What makes a false alarm here, and is ruled out on purpose:
- names that merely mention a secret but hold a reference or a setting (PASSWORD_FILE, the
  Docker secrets idiom; TOKEN_TTL; AUTH_ENABLED);
- public material that looks random: GPG key fingerprints and checksums in official images
  (GPG_KEY, NODE_SHA256...), commit ids and compose config hashes in labels;
- long lists and options (PHPIZE_DEPS, JAVA_OPTS, PATH) that are as "random" as a key.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

# Words that make a variable or label name a secret's name. Matched against whole words of
# the name (split on _ . - / and case changes), so AUTHOR and PASSAGE do not match.
SECRET_WORDS = frozenset(
    {
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "PASS",
        "SECRET",
        "SECRETS",
        "TOKEN",
        "TOKENS",
        "APIKEY",
        "CREDENTIAL",
        "CREDENTIALS",
        "CREDS",
        "AUTH",
        "PRIVATEKEY",
        "ACCESSKEY",
        "SECRETKEY",
        "CLIENTSECRET",
    }
)
# Two-word names that are secrets although neither word is (API_KEY, PRIVATE_KEY...).
SECRET_PAIRS = frozenset(
    {
        ("API", "KEY"),
        ("PRIVATE", "KEY"),
        ("ACCESS", "KEY"),
        ("SECRET", "KEY"),
        ("SIGNING", "KEY"),
        ("ENCRYPTION", "KEY"),
        ("MASTER", "KEY"),
        ("LICENSE", "KEY"),
    }
)
# A last word that turns a secret's name into a setting or a reference to one.
NOT_A_VALUE = frozenset(
    {
        "FILE",
        "PATH",
        "DIR",
        "LOCATION",
        "ENABLED",
        "ENABLE",
        "DISABLED",
        "REQUIRED",
        "MODE",
        "TYPE",
        "METHOD",
        "METHODS",
        "PROVIDER",
        "BACKEND",
        "URL",
        "URI",
        "ENDPOINT",
        "HOST",
        "PORT",
        "USER",
        "USERNAME",
        "EXPIRY",
        "EXPIRES",
        "EXPIRATION",
        "TTL",
        "TIMEOUT",
        "LIFETIME",
        "LENGTH",
        "HEADER",
        "REALM",
        "ALGORITHM",
        "ALG",
        "SOURCE",
        "SERVER",
        "ISSUER",
        "AUDIENCE",
        "SCOPE",
        "SCOPES",
        "NAME",
        "ID",
        "VERSION",
        "POLICY",
        "ROTATION",
    }
)
# Names whose values are public even when they look random.
PUBLIC_NAMES = frozenset({"GPG_KEY", "GPG_KEYS", "KEYSERVER", "PATH", "HOME", "PWD", "OLDPWD"})
# Last words of names that hold lists, options, paths, versions or checksums: as random
# as a key to an entropy measure, and routinely long.
PUBLIC_SUFFIXES = frozenset(
    {
        "PATH",
        "DIR",
        "HOME",
        "VERSION",
        "OPTS",
        "OPTIONS",
        "ARGS",
        "FLAGS",
        "CFLAGS",
        "CPPFLAGS",
        "CXXFLAGS",
        "LDFLAGS",
        "DEPS",
        "PACKAGES",
        "URL",
        "URI",
        "HOST",
        "HOSTS",
        "SHA",
        "SHA1",
        "SHA256",
        "SHA512",
        "MD5",
        "CHECKSUM",
        "DIGEST",
        "FINGERPRINT",
        "COMMIT",
        "REVISION",
        "REF",
        "ID",
        "NAME",
        "LANG",
        "LANGUAGE",
        "TZ",
    }
)
# For a name that says nothing: how long and how random a value must be to look like a key.
# 4.2 bits per character is above English text, paths and hex digests (at most 4.0), and
# below base64 keys of 20 characters and more (typically 4.3 to 5.2).
UNNAMED_MIN_LENGTH = 20
UNNAMED_MIN_ENTROPY = 4.2
NAMED_MIN_LENGTH = 1  # an empty PASSWORD= holds nothing

_WORDS = re.compile(r"[A-Z][A-Z0-9]*|[0-9]+")
URL_CREDENTIALS = re.compile(r"\b[a-z][a-z0-9+.-]*://([^/@\s:]+):([^/@\s]+)@", re.I)


def entropy(value: str) -> float:
    """Shannon entropy in bits per character, rounded as scans.redact rounds it."""
    if not value:
        return 0.0
    total = len(value)
    counts = Counter(value).values()
    return round(-sum(n / total * math.log2(n / total) for n in counts), 2)


def words(name: str) -> list[str]:
    """ "awsSecretAccessKey", "aws.secret-access_key" -> ["AWS", "SECRET", "ACCESS", "KEY"]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return _WORDS.findall(spaced.upper())


def secret_name(name: str) -> bool:
    """Whether a variable or label name says it holds a secret value."""
    parts = words(name)
    if not parts or "_".join(parts) in PUBLIC_NAMES or parts[-1] in NOT_A_VALUE:
        return False
    # AUTH names a credential only at the end (BASIC_AUTH, REDIS_AUTH); AUTH_SOURCE is not one.
    last = len(parts) - 1
    named = [p for i, p in enumerate(parts) if p in SECRET_WORDS and (p != "AUTH" or i == last)]
    joined = {a + b for a, b in zip(parts, parts[1:], strict=False)}
    return (
        bool(named)
        or any(j in SECRET_WORDS for j in joined)
        or any(pair in SECRET_PAIRS for pair in zip(parts, parts[1:], strict=False))
    )


def public_name(name: str) -> bool:
    parts = words(name)
    return not parts or "_".join(parts) in PUBLIC_NAMES or parts[-1] in PUBLIC_SUFFIXES


@dataclass(frozen=True)
class Suspect:
    name: str
    length: int
    entropy: float
    why: str  # "name" or "looks random"

    def shown(self) -> str:
        return f"<redacted, {self.length} chars, entropy {self.entropy:.1f}; {self.why}>"


def judge(name: str, length: int, bits: float) -> Suspect | None:
    """A variable judged from its name and its value's length and entropy alone."""
    if length < NAMED_MIN_LENGTH:
        return None
    if secret_name(name):
        return Suspect(name, length, bits, "secret name")
    if public_name(name):
        return None
    if length >= UNNAMED_MIN_LENGTH and bits >= UNNAMED_MIN_ENTROPY:
        return Suspect(name, length, bits, "value looks random")
    return None


def judge_label(key: str, value: str) -> Suspect | None:
    """A label, whose value is visible: secret key names and credentials in URLs.

    Unnamed random-looking label values are not reported: labels carry commit ids, digests
    and config hashes by design, and nothing in their shape tells them from a key.
    """
    if not value.strip() or value.strip().startswith(("$", "/run/secrets/")):
        return None
    if secret_name(key):
        return Suspect(key, len(value), entropy(value), "secret name")
    if URL_CREDENTIALS.search(value):
        return Suspect(key, len(value), entropy(value), "password in a URL")
    return None


# Secret-bearing flags and assignments in RUN lines of the image history. An assignment's
# value that is only a variable reference ($TOKEN, ${TOKEN}) is not a secret in itself.
_FLAG = re.compile(
    r"(--(?:password|passwd|pass|token|api-key|apikey|secret|client-secret|auth-token)"
    r"(?:=|\s+))(\"[^\"]*\"|'[^']*'|[^\s;&|]+)",
    re.I,
)
_ASSIGN = re.compile(r"(?<![\w$])([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|[^\s;&|]*)")
_CURL_USER = re.compile(r"((?:^|\s)(?:-u|--user)\s+[^\s:]+:)([^\s;&|]+)")
_BEARER = re.compile(r"(Authorization:\s*(?:Bearer|Basic|token)\s+)([A-Za-z0-9._~+/=-]+)", re.I)


def _is_reference(value: str) -> bool:
    bare = value.strip("\"'")
    return not bare or bare.startswith(("$", "<redacted"))


def scan_command(line: str) -> tuple[str, int]:
    """(the line with every secret value replaced by a placeholder, how many were found)."""
    found = 0

    def hide(match: re.Match[str], value_group: int, prefix: str) -> str:
        nonlocal found
        value = match.group(value_group)
        if _is_reference(value):
            return match.group(0)
        found += 1
        bare = value.strip("\"'")
        return f"{prefix}<redacted, {len(bare)} chars>"

    line = _FLAG.sub(lambda m: hide(m, 2, m.group(1)), line)
    line = _CURL_USER.sub(lambda m: hide(m, 2, m.group(1)), line)
    line = _BEARER.sub(lambda m: hide(m, 2, m.group(1)), line)
    line = _ASSIGN.sub(
        lambda m: hide(m, 2, f"{m.group(1)}=") if secret_name(m.group(1)) else m.group(0), line
    )

    def hide_url(match: re.Match[str]) -> str:
        nonlocal found
        found += 1
        whole = match.group(0)
        return whole[: whole.index("://") + 3] + f"{match.group(1)}:<redacted>@"

    line = URL_CREDENTIALS.sub(hide_url, line)
    return line, found
