"""The rule engine's words in the interface's language.

rules/ imports no Django and speaks English (docs/RULES.md, exports and SARIF keep it), and
scans store its verdicts' reasons as English text. Pages and mails translate them here, when
they are shown: severities, the causes of an unknown verdict, subject kinds, rule titles, and
the reasons and guidance rules give. A reason this table does not know is shown as it is
(English), never dropped: the table follows the reasons written in rules/ and vulns/.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from rules.base import Cause, Rule, Severity

SEVERITIES: Mapping[int, Promise] = {
    Severity.INFO: _("info"),
    Severity.LOW: _("low"),
    Severity.MEDIUM: _("medium"),
    Severity.HIGH: _("high"),
    Severity.CRITICAL: _("critical"),
}

CAUSES: Mapping[str, Promise] = {
    Cause.DATA_MISSING: _("data missing"),
    Cause.NO_SSH: _("no SSH access"),
    Cause.PERMISSION_DENIED: _("permission denied"),
    Cause.NOT_SUPPORTED: _("not supported by this engine"),
}

KINDS: Mapping[str, Promise] = {
    "daemon": _("daemon"),
    "container": _("container"),
    "image": _("image"),
}

# Docker's container states (State.Status), as `docker ps` names them.
STATES: Mapping[str, Promise] = {
    "created": _("created"),
    "restarting": _("restarting"),
    "running": _("running"),
    "removing": _("removing"),
    "paused": _("paused"),
    "exited": _("exited"),
    "dead": _("dead"),
}


def severity_label(severity: int) -> str:
    """The label of a severity ("critique" in French)."""
    label = SEVERITIES.get(int(severity))
    return str(label) if label is not None else str(severity)


def severity_choices() -> list[tuple[int, str]]:
    """Form choices, lowest first, in the language of the request that draws the form."""
    return [(int(s), severity_label(s)) for s in Severity]


def cause_label(cause: str) -> str:
    label = CAUSES.get(cause)
    # A cause from a newer catalogue than this process knows: its name, readable.
    return str(label) if label is not None else cause.replace("_", " ")


def state_label(state: str) -> str:
    label = STATES.get(state)
    return str(label) if label is not None else state


def kind_label(kind: str) -> str:
    label = KINDS.get(kind)
    return str(label) if label is not None else kind


def rule_title(rule: Rule | None, fallback: str = "") -> str:
    """The rule's French title when the active language is French and it has one."""
    if rule is None:
        return fallback
    french = (translation.get_language() or "en").startswith("fr")
    return rule.title_fr if french and rule.title_fr else rule.title


# The catalogue's own words (rules/catalogue.py): the OWASP cheat sheet's rule titles, why a
# cheat-sheet rule has no check, the CIS sections and where a rule reads its facts. Kept in
# step with that file; a text not listed here is shown as it is.
CATALOGUE_TEXTS = frozenset(
    {
        gettext_noop("Keep host and Docker up to date"),
        gettext_noop("Do not expose the Docker daemon socket (even to the containers)"),
        gettext_noop("Set a user"),
        gettext_noop("Limit capabilities"),
        gettext_noop("Prevent in-container privilege escalation"),
        gettext_noop("Be mindful of inter-container connectivity"),
        gettext_noop("Use a Linux security module (seccomp, AppArmor or SELinux)"),
        gettext_noop("Limit resources (memory, CPU, file descriptors, processes, restarts)"),
        gettext_noop("Set filesystem and volumes to read-only"),
        gettext_noop("Integrate container scanning tools into your CI/CD pipeline"),
        gettext_noop("Keep the Docker daemon logging level at info"),
        gettext_noop("Run Docker in rootless mode"),
        gettext_noop("Utilize Docker secrets for sensitive data management"),
        gettext_noop("Enhance supply chain security"),
        gettext_noop(
            "a CI/CD practice: nothing on a running host shows whether its images were scanned "
            "before they were deployed"
        ),
        gettext_noop(
            "a secret in an environment variable looks like any other value, and Posture "
            "redacts environment values when it collects them"
        ),
        gettext_noop("Host configuration"),
        gettext_noop("Docker daemon configuration"),
        gettext_noop("Docker daemon configuration files"),
        gettext_noop("Container images and build file"),
        gettext_noop("Container runtime"),
        gettext_noop("Docker security operations"),
        gettext_noop("Docker Swarm configuration"),
        gettext_noop("Engine API"),
        gettext_noop("SSH to the host"),
    }
)


def catalogue_text(text: str) -> str:
    """A text of the rule catalogue's data in the active language (as it is when unknown)."""
    return gettext(text) if text in CATALOGUE_TEXTS else text


# Parts that recur inside reasons: how the host's files were read, and by whom.
_HOW = {"over SSH": _("over SSH"), "on the worker's machine": _("on the worker's machine")}
_USER = {"the SSH user": _("the SSH user"), "the worker's user": _("the worker's user")}
_EXPECTED = {
    "a list of objects": _("a list of objects"),
    "a list of strings": _("a list of strings"),
    "a string": _("a string"),
    "an integer": _("an integer"),
    "true or false": _("true or false"),
}
# Groups whose value is itself a reason (or a reason's part) and is translated in turn.
_NESTED = {"reason", "what", "why", "note"}


def _words(table: Mapping[str, Promise]) -> str:
    return "|".join(re.escape(k) for k in table)


# (English reason as a regular expression, its message). Named groups are the data a reason
# carries (paths, names, versions): they go into the translation as they are.
_REASONS: list[tuple[str, Promise]] = [
    # rules/fields.py, rules/daemon.py, rules/container_*.py, rules/image*.py
    (r"(?P<path>\S+) is absent from the data the daemon returned",
     _("%(path)s is absent from the data the daemon returned")),
    (rf"(?P<path>\S+) is not (?P<expected>{_words(_EXPECTED)})",
     _("%(path)s is not %(expected)s")),
    (r"(?P<path>\S+) is not a list of bindings", _("%(path)s is not a list of bindings")),
    (r"(?P<field>\S+) is absent from the network data",
     _("%(field)s is absent from the network data")),
    (r"Config is absent from the container data", _("Config is absent from the container data")),
    (r"Config is absent from the image data", _("Config is absent from the image data")),
    (r"Config\.Image is empty", _("Config.Image is empty")),
    (r"Config\.Labels is not a map", _("Config.Labels is not a map")),
    (r"Created is missing or not a date", _("Created is missing or not a date")),
    (r"State\.Running is missing", _("State.Running is missing")),
    (r"(?P<path>\S+)\.Env has values that were not measured when collected",
     _("%(path)s.Env has values that were not measured when collected")),
    (r"the daemon's /info SecurityOptions are not available for this host",
     _("the daemon's /info SecurityOptions are not available for this host")),
    (r"GET /info says neither through Rootless nor through SecurityOptions whether the engine "
     r"runs rootless",
     _("GET /info says neither through Rootless nor through SecurityOptions whether the engine "
       "runs rootless")),
    (r"the network list \(GET /networks\) was not collected",
     _("the network list (GET /networks) was not collected")),
    (r"the daemon runs without a default bridge network",
     _("the daemon runs without a default bridge network")),
    (r"the daemon has no default bridge \((?P<source>.+) = none\)",
     _("the daemon has no default bridge (%(source)s = none)")),
    (r"the daemon reports no seccomp support \(kernel or build\)",
     _("the daemon reports no seccomp support (kernel or build)")),
    (r"the daemon reports no seccomp support, so no profile can be assessed",
     _("the daemon reports no seccomp support, so no profile can be assessed")),
    (r"the daemon reports no AppArmor support on this host",
     _("the daemon reports no AppArmor support on this host")),
    (r"no AppArmor profile is recorded for this container yet",
     _("no AppArmor profile is recorded for this container yet")),
    (r"the daemon does not run with SELinux enabled",
     _("the daemon does not run with SELinux enabled")),
    (r"the daemon does not remap user namespaces", _("the daemon does not remap user namespaces")),
    (r"the engine does not say whether it runs rootless",
     _("the engine does not say whether it runs rootless")),
    (r"the engine runs rootless: container root is never host root",
     _("the engine runs rootless: container root is never host root")),
    (r"the container whose user namespace (?P<mode>.+) joins was not collected",
     _("the container whose user namespace %(mode)s joins was not collected")),
    (r"(?P<path>.+?) (?P<value>'.*') joins a user namespace the API does not describe",
     _("%(path)s %(value)s joins a user namespace the API does not describe")),
    (r"--network host publishes nothing; CTR-HOST-NETWORK reports it",
     _("--network host publishes nothing; CTR-HOST-NETWORK reports it")),
    (r"unrecognised restart policy (?P<name>.+)", _("unrecognised restart policy %(name)s")),
    (r"live-restore is incompatible with swarm mode",
     _("live-restore is incompatible with swarm mode")),
    (r"the daemon reports no storage driver", _("the daemon reports no storage driver")),
    (r"the Engine version is unknown, so the setting's absence proves nothing",
     _("the Engine version is unknown, so the setting's absence proves nothing")),
    (r"Engine (?P<version>\S+) does not report a daemon-wide no-new-privileges in /info \(it "
     r"does from Engine 25\): check daemon\.json or the dockerd command line",
     _("Engine %(version)s does not report a daemon-wide no-new-privileges in /info (it does "
       "from Engine 25): check daemon.json or the dockerd command line")),
    (r"Podman's /info always reports the default seccomp profile; the engine-wide default is "
     r"containers\.conf seccomp_profile, which the API does not show",
     _("Podman's /info always reports the default seccomp profile; the engine-wide default is "
       "containers.conf seccomp_profile, which the API does not show")),
    (r"(?P<engine>\S+) has no (?P<feature>.+): not supported by this engine",
     _("%(engine)s has no %(feature)s: not supported by this engine")),
    # rules/daemon_versions.py
    (r"the Engine version is absent from GET /version",
     _("the Engine version is absent from GET /version")),
    (r"the runc version is absent from GET /version and GET /info",
     _("the runc version is absent from GET /version and GET /info")),
    (r"the daemon reports no runc version", _("the daemon reports no runc version")),
    (r"the containerd version is absent from GET /version",
     _("the containerd version is absent from GET /version")),
    (r"cannot read the (?P<what>Engine|runc|containerd|kernel) version (?P<version>.+)",
     _("cannot read the %(what)s version %(version)s")),
    (r"containerd (?P<version>\S+) is on a line the version table does not cover",
     _("containerd %(version)s is on a line the version table does not cover")),
    (r"the engine runs (?P<runtime>\S+), not runc: the flaw is runc's",
     _("the engine runs %(runtime)s, not runc: the flaw is runc's")),
    (r"(?P<what>.+?) is a distribution build below the upstream fixed release; the vendor may "
     r"have backported the fix \((?P<why>.+)\)",
     _("%(what)s is a distribution build below the upstream fixed release; the vendor may have "
       "backported the fix (%(why)s)")),
    (r"give Posture SSH access to the host and it reads the host's package database to decide "
     r"from the distribution's own advisories",
     _("give Posture SSH access to the host and it reads the host's package database to decide "
       "from the distribution's own advisories")),
    (r"Posture could not decide it from the host's packages: (?P<reason>.+)",
     _("Posture could not decide it from the host's packages: %(reason)s")),
    (r"the host's (?P<database>\S+) database names no such package",
     _("the host's %(database)s database names no such package")),
    # rules/host_access.py and the host rules
    (r"host-level check: the host is not reachable over SSH, so its files and processes could "
     r"not be inspected \(not read locally: (?P<note>.+)\)",
     _("host-level check: the host is not reachable over SSH, so its files and processes could "
       "not be inspected (not read locally: %(note)s)")),
    (r"host-level check: the host is not reachable over SSH, so its files and processes could "
     r"not be inspected",
     _("host-level check: the host is not reachable over SSH, so its files and processes could "
       "not be inspected")),
    (rf"(?P<what>.+) was not collected (?P<how>{_words(_HOW)}) \(host collection "
     r"(?P<note>.+)\)",
     _("%(what)s was not collected %(how)s (host collection %(note)s)")),
    (rf"(?P<what>.+) was not collected (?P<how>{_words(_HOW)})",
     _("%(what)s was not collected %(how)s")),
    (rf"(?P<what>.+): permission denied to (?P<user>{_words(_USER)})",
     _("%(what)s: permission denied to %(user)s")),
    (r"incomplete: SSH access for host checks failed: (?P<reason>.+)",
     _("incomplete: SSH access for host checks failed: %(reason)s")),
    (r"incomplete: (?P<reason>.+)", _("incomplete: %(reason)s")),
    (r"stat of (?P<path>\S+)", _("stat of %(path)s")),
    (r"stat (?P<path>\S+)", _("stat %(path)s")),
    (r"the contents of (?P<path>\S+)", _("the contents of %(path)s")),
    (r"reading (?P<path>\S+)", _("reading %(path)s")),
    (r"listing (?P<path>\S+)", _("listing %(path)s")),
    (r"the mount table", _("the mount table")),
    (r"the mount table is not readable: /proc is not available to SSH",
     _("the mount table is not readable: /proc is not available to SSH")),
    (r"(?P<path>\S+): not present on this host", _("%(path)s: not present on this host")),
    (r"(?P<what>.+): not present on this host", _("%(what)s: not present on this host")),
    (r"(?P<path>\S+) does not exist on this host", _("%(path)s does not exist on this host")),
    (r"(?P<path>\S+) is not a JSON object \(or is larger than the 64 KB read\)",
     _("%(path)s is not a JSON object (or is larger than the 64 KB read)")),
    (r"neither the process list nor a docker\.service unit is readable",
     _("neither the process list nor a docker.service unit is readable")),
    (r"(?P<path>\S+) has no ExecStart line", _("%(path)s has no ExecStart line")),
    (r"the ExecStart line of (?P<path>\S+) is empty", _("the ExecStart line of %(path)s is empty")),
    (r"the ExecStart line of (?P<path>\S+) could not be parsed",
     _("the ExecStart line of %(path)s could not be parsed")),
    (r"the daemon's command line is unknown \((?P<reason>.+)\)",
     _("the daemon's command line is unknown (%(reason)s)")),
    (r"(?P<n>\d+) dockerd processes run on the host and (?P<m>\d+) of them use the scanned "
     r"daemon's data-root (?P<root>\S+)",
     _("%(n)s dockerd processes run on the host and %(m)s of them use the scanned daemon's "
       "data-root %(root)s")),
    # rules/swarm.py
    (r"Swarm\.LocalNodeState or Swarm\.ControlAvailable is absent from /info",
     _("Swarm.LocalNodeState or Swarm.ControlAvailable is absent from /info")),
    (r"this host is not in a swarm", _("this host is not in a swarm")),
    (r"this node is a swarm worker: cluster settings are on the managers",
     _("this node is a swarm worker: cluster settings are on the managers")),
    # rules/image*.py
    (r"the image history could not be read", _("the image history could not be read")),
    (r"the image history is not a list of layers", _("the image history is not a list of layers")),
    (r"the image history is empty", _("the image history is empty")),
    (r"the image history is empty or not a list of layers",
     _("the image history is empty or not a list of layers")),
    (r"a layer of the image history has no readable step",
     _("a layer of the image history has no readable step")),
    (r"the image has no tag", _("the image has no tag")),
    (r"file modes inside the image are not readable through the Engine API; run "
     r"`find / -perm /6000 -type f` in a container of it, or scan it in CI",
     _("file modes inside the image are not readable through the Engine API; run "
       "`find / -perm /6000 -type f` in a container of it, or scan it in CI")),
    (r"the container's image was not listed by the daemon",
     _("the container's image was not listed by the daemon")),
    (r"image scanning did not run for this image", _("image scanning did not run for this image")),
    (r"not assessed: (?P<reason>.+)", _("not assessed: %(reason)s")),
    (r"no inventory", _("no inventory")),
    (r"the container is not running", _("the container is not running")),
    (r"the image has no OS release file \(scratch or distroless\)",
     _("the image has no OS release file (scratch or distroless)")),
    (r"no end-of-life dates known for (?P<os>.+)", _("no end-of-life dates known for %(os)s")),
    (r"no end-of-life date known for (?P<os>.+)", _("no end-of-life date known for %(os)s")),
    (r"the rule could not read this data", _("the rule could not read this data")),
    # vulns/summary.py, scans/images.py, vulns/readers.py: why an image was not assessed
    (r"the daemon gave no layer list for this image",
     _("the daemon gave no layer list for this image")),
    (r"image scanning is off for this host", _("image scanning is off for this host")),
    (r"its inventory is being read", _("its inventory is being read")),
    (r"no container of this image to read from; deep mode reads images without one",
     _("no container of this image to read from; deep mode reads images without one")),
    (r"its inventory has not been read yet", _("its inventory has not been read yet")),
    (r"its inventory could not be read", _("its inventory could not be read")),
    (r"its packages are being matched", _("its packages are being matched")),
    (r"no vulnerability data", _("no vulnerability data")),
    (r"RPM databases are not read yet \(found (?P<path>\S+)\)",
     _("RPM databases are not read yet (found %(path)s)")),
    (r"(?P<os>.+): no package database found \(dpkg, apk or rpm\)",
     _("%(os)s: no package database found (dpkg, apk or rpm)")),
    (r"no /etc/os-release and no package database \(dpkg, apk, rpm\): an empty or scratch-based "
     r"image, or a distribution this version does not read",
     _("no /etc/os-release and no package database (dpkg, apk, rpm): an empty or scratch-based "
       "image, or a distribution this version does not read")),
    (r"a package database but no readable /etc/os-release to tell the release",
     _("a package database but no readable /etc/os-release to tell the release")),
    (r"no OSV ecosystem for (?P<os>.+) \(ID=(?P<id>.+)\)",
     _("no OSV ecosystem for %(os)s (ID=%(id)s)")),
    # policy/profiles.py: a rule a profile turned off, and the override's scope and reason
    (r"turned off by profile \((?P<reason>.+)\)", _("turned off by profile (%(reason)s)")),
    (r"host (?P<name>\S+): (?P<text>.+)", _("host %(name)s: %(text)s")),
    # scans/filemodes.py
    (r"file modes are read from every layer of the image in deep mode only: set "
     r"POSTURE_IMAGE_SCAN=deep, or this host's image scan mode to deep",
     _("file modes are read from every layer of the image in deep mode only: set "
       "POSTURE_IMAGE_SCAN=deep, or this host's image scan mode to deep")),
    (r"its inventory was read in os mode \(package databases only\), so its layers' file modes "
     r"were not seen; a deep read of new image content records them",
     _("its inventory was read in os mode (package databases only), so its layers' file modes "
       "were not seen; a deep read of new image content records them")),
    # scans/hostlocal.py: why a host's files were not read on the worker's machine either
    (r"(?P<path>\S+) is not a socket on the worker's machine",
     _("%(path)s is not a socket on the worker's machine")),
    (r"the socket (?P<path>\S+) is not on the worker's machine",
     _("the socket %(path)s is not on the worker's machine")),
    (r"the worker could not ask who serves (?P<path>\S+)",
     _("the worker could not ask who serves %(path)s")),
    (r"the daemon runs outside the worker's process namespace \(another container\?\)",
     _("the daemon runs outside the worker's process namespace (another container?)")),
    (r"systemd serves the socket but no dockerd runs on the worker's machine",
     _("systemd serves the socket but no dockerd runs on the worker's machine")),
    (r"(?P<path>\S+) is served by an unknown process, not dockerd",
     _("%(path)s is served by an unknown process, not dockerd")),
    (r"(?P<path>\S+) is served by (?P<name>.+), not dockerd",
     _("%(path)s is served by %(name)s, not dockerd")),
    (r"dockerd runs in another filesystem than the worker \(another container\?\)",
     _("dockerd runs in another filesystem than the worker (another container?)")),
    (r"the daemon reported no data-root to check against the worker's machine",
     _("the daemon reported no data-root to check against the worker's machine")),
    (r"the daemon's data-root (?P<path>\S+) is not on the worker's machine",
     _("the daemon's data-root %(path)s is not on the worker's machine")),
    (r"(?P<path>\S+)/engine-id on the worker's machine names another daemon",
     _("%(path)s/engine-id on the worker's machine names another daemon")),
    (r"Windows images are not assessed", _("Windows images are not assessed")),
    (r"unreadable archive: (?P<reason>.+)", _("unreadable archive: %(reason)s")),
    (r"internal error reading the inventory \((?P<error>\w+)\)",
     _("internal error reading the inventory (%(error)s)")),
    (r"the container was removed before its files were read",
     _("the container was removed before its files were read")),
    (r"the image was removed before it was read", _("the image was removed before it was read")),
    (r"more than (?P<n>\d+) entries", _("more than %(n)s entries")),
    (r"wanted files exceed (?P<budget>.+) in all", _("wanted files exceed %(budget)s in all")),
    (r"layer (?P<path>\S+) is zstd-compressed, which is not read yet",
     _("layer %(path)s is zstd-compressed, which is not read yet")),
    (r"no manifest\.json or index\.json: not a `docker save` stream",
     _("no manifest.json or index.json: not a `docker save` stream")),
    (r"layer (?P<name>\S+) named by the manifest is not in the stream",
     _("layer %(name)s named by the manifest is not in the stream")),
    (r"(?P<path>/\S+) is too large to read \((?P<size>[^)]+)\)",
     _("%(path)s is too large to read (%(size)s)")),
    (r"(?P<path>/\S+) does not parse \((?P<n>\d+) entries refused\)",
     _("%(path)s does not parse (%(n)s entries refused)")),
    (r"(?P<n>\d+) malformed entries skipped in (?P<path>/\S+)",
     _("%(n)s malformed entries skipped in %(path)s")),
    (r"package databases exceed (?P<n>\d+) bytes together",
     _("package databases exceed %(n)s bytes together")),
    (r"image stream exceeds the (?P<budget>.+) budget",
     _("image stream exceeds the %(budget)s budget")),
    (r"image layers expand beyond the (?P<budget>.+)",
     _("image layers expand beyond the %(budget)s")),
    # Manual checks: what a person has to confirm.
    (r"Podman lists the capabilities removed, not --cap-drop ALL: (?P<caps>.+) remain from the "
     r"default set; check that each one is needed",
     _("Podman lists the capabilities removed, not --cap-drop ALL: %(caps)s remain from the "
       "default set; check that each one is needed")),
    (r"check that each published port is needed: (?P<ports>.+)",
     _("check that each published port is needed: %(ports)s")),
    (r"confirm that the cgroup parent (?P<parent>.+) is intended",
     _("confirm that the cgroup parent %(parent)s is intended")),
    (r"the daemon applies the custom seccomp profile (?P<profile>.+); the API does not show its "
     r"content: check that it still blocks what the default profile blocks",
     _("the daemon applies the custom seccomp profile %(profile)s; the API does not show its "
       "content: check that it still blocks what the default profile blocks")),
    (r"check that the (?P<driver>.+) logging driver forwards logs off the host",
     _("check that the %(driver)s logging driver forwards logs off the host")),
    (r"swarm mode is (?P<state>\S+): confirm that this host must be part of a swarm",
     _("swarm mode is %(state)s: confirm that this host must be part of a swarm")),
    (r"Confirm that each member of the (?P<group>\S+) group is a trusted administrator: "
     r"membership is root on this host\. Accounts whose primary group it is and members from a "
     r"directory service \(LDAP, SSSD\) are not listed in /etc/group\.",
     _("Confirm that each member of the %(group)s group is a trusted administrator: membership "
       "is root on this host. Accounts whose primary group it is and members from a directory "
       "service (LDAP, SSSD) are not listed in /etc/group.")),
    (r"Confirm the host follows its distribution's CIS benchmark, runs only what it needs, and "
     r"has AppArmor or SELinux enforcing\.",
     _("Confirm the host follows its distribution's CIS benchmark, runs only what it needs, and "
       "has AppArmor or SELinux enforcing.")),
    (r"confirm that the images deployed here are signed and their signatures verified before "
     r"they run \(cosign/Notation in CI or admission, or DOCKER_CONTENT_TRUST=1 on the clients "
     r"that pull\)",
     _("confirm that the images deployed here are signed and their signatures verified before "
       "they run (cosign/Notation in CI or admission, or DOCKER_CONTENT_TRUST=1 on the clients "
       "that pull)")),
    (r"confirm that the images run here are scanned in CI and rebuilt regularly",
     _("confirm that the images run here are scanned in CI and rebuilt regularly")),
    (r"confirm that every image's base comes from a source you trust",
     _("confirm that every image's base comes from a source you trust")),
]  # fmt: skip
_COMPILED = [(re.compile(pattern), message) for pattern, message in _REASONS]
_PARTS = {**_HOW, **_USER, **_EXPECTED}


def reason(text: str) -> str:
    """A verdict's reason or guidance in the active language (as it is when unknown)."""
    if not text or (translation.get_language() or "en").startswith("en"):
        return text
    for pattern, message in _COMPILED:
        found = pattern.fullmatch(text)
        if found is not None:
            return str(message) % _values(found.groupdict())
    return text


def _values(groups: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in groups.items():
        if value in _PARTS:
            values[name] = str(_PARTS[value])
        elif name in _NESTED:
            values[name] = reason(value)
        else:
            values[name] = value
    return values
