"""Host-level rules (CIS Docker Benchmark sections 1 and 3), decided from what SSH shows of
the host: file owners and modes, audit rules, the daemon's command line and configuration.
Without SSH access each returns unknown with cause NO_SSH.

This module holds section 1.1.1, 1.1.2 and 1.2.1; the audit rules (1.1.3-1.1.18) are in
host_audit, the daemon settings only visible on the host (section 2) in host_settings and
the file ownership and permission rules (section 3) in host_files.

CIS ids are v1.6.0 (`cis`) and v1.8.0 (`cis_v18`), checked against the benchmark titles as
republished by docker-bench-security (v1.6.0) and CIS-derived v1.8.0 control sets; levels
are the v1.8.0 profile applicability.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rules.base import (
    Evidence,
    Outcome,
    Remediation,
    Result,
    Scope,
    Severity,
    Source,
    rule,
    unknown,
)
from rules.facts import HostFacts
from rules.host_access import (
    GROUP_FILE,
    MOUNTINFO,
    PROCESSES,
    access_of,
    not_collected,
    text_of,
    verdict,
)
from rules.host_dockerd import Found, daemon_config, expected_data_root

OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Mount:
    id: str
    parent: str
    device: str  # major:minor
    root: str  # the directory of the filesystem mounted here ("/" unless a bind mount)
    point: str
    fstype: str
    source: str


def unescape(field: str) -> str:
    """mountinfo writes spaces, tabs and newlines in paths as octal escapes (\\040)."""
    return OCTAL_ESCAPE.sub(lambda m: chr(int(m[1], 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        if len(fields) < sep + 3:
            continue
        mounts.append(
            Mount(
                fields[0],
                fields[1],
                fields[2],
                unescape(fields[3]),
                unescape(fields[4]),
                fields[sep + 1],
                unescape(fields[sep + 2]),
            )
        )
    return mounts


@rule(
    id="DMN-DATA-PARTITION",
    title="Container data not on a separate partition",
    title_fr="Données des conteneurs hors d'une partition dédiée",
    severity=Severity.LOW,
    scope=Scope.DAEMON,
    rationale=(
        "Images, layers and logs under the data-root can fill their filesystem; when that is "
        "the root filesystem the host itself stops working, not only Docker."
    ),
    rationale_fr=(
        "Images, couches et journaux sous la racine de données peuvent remplir leur système "
        "de fichiers ; si c'est la racine, c'est l'hôte entier qui cesse de fonctionner."
    ),
    remediation=Remediation(
        en=(
            "Give the data-root (/var/lib/docker by default) its own partition or logical "
            "volume and mount it there (fstab), then restart the daemon."
        ),
        fr=(
            "Donnez à la racine de données (/var/lib/docker par défaut) sa propre partition "
            "ou son volume logique, montez-le à cet endroit (fstab) puis redémarrez le démon."
        ),
    ),
    cis=("1.1.1",),
    cis_v18=("1.1.1",),
    cis_level=1,
    source=Source.SSH,
    decided_by="/proc/self/mountinfo over SSH, for the DockerRootDir of GET /info",
)
def data_partition(h: HostFacts) -> Result:
    access = access_of(h)
    if isinstance(access, Result):
        return access
    root = expected_data_root(h)
    if MOUNTINFO not in access.texts:
        if access.commands.get(PROCESSES) == "unavailable":
            return unknown("the mount table is not readable: /proc is not available to SSH")
        return not_collected(access, "the mount table")
    mounts = parse_mountinfo(access.texts[MOUNTINFO])
    here = [m for m in mounts if m.point == root]
    field = f"mount at {root}"
    if not here:
        return verdict(Outcome.FAIL, Evidence(field, "none: on its parent's filesystem"))
    mount = here[-1]  # a later mount on the same point hides the earlier ones
    parent = next((m for m in mounts if m.id == mount.parent), None)
    shown = f"{mount.source} ({mount.fstype})"
    if mount.root != "/" or (parent is not None and parent.device == mount.device):
        return verdict(Outcome.FAIL, Evidence(field, f"bind mount of {mount.root} on {shown}"))
    return verdict(Outcome.PASS, Evidence(field, shown))


@rule(
    id="DMN-DOCKER-GROUP",
    title="Members of the docker group control the daemon",
    title_fr="Les membres du groupe docker contrôlent le démon",
    severity=Severity.MEDIUM,
    scope=Scope.DAEMON,
    rationale=(
        "Access to the Docker socket is root on the host: any member of its group can start "
        "a privileged container that mounts /. Only administrators belong there."
    ),
    rationale_fr=(
        "L'accès au socket Docker équivaut à root sur l'hôte : tout membre de son groupe peut "
        "lancer un conteneur privilégié qui monte /. Seuls les administrateurs y ont leur place."
    ),
    remediation=Remediation(
        en=(
            "Review the members of the docker group and remove anyone who is not a trusted "
            "administrator: gpasswd -d <user> docker."
        ),
        fr=(
            "Passez en revue les membres du groupe docker et retirez quiconque n'est pas un "
            "administrateur de confiance : gpasswd -d <utilisateur> docker."
        ),
    ),
    owasp=(1,),
    cis=("1.1.2",),
    cis_v18=("1.1.2",),
    cis_level=1,
    source=Source.SSH,
    decided_by="/etc/group over SSH (the group named by the daemon's --group, else docker)",
)
def docker_group(h: HostFacts) -> Result:
    access = access_of(h)
    if isinstance(access, Result):
        return access
    config = daemon_config(h)
    setting = config.lookup("group") if not isinstance(config, Result) else None
    name = setting.value if isinstance(setting, Found) and isinstance(setting.value, str) else ""
    name = name or "docker"
    groups = text_of(access, GROUP_FILE)
    if isinstance(groups, Result):
        return groups
    line = next((ln for ln in (groups or "").splitlines() if ln.split(":")[0] == name), None)
    if line is None:
        return verdict(Outcome.PASS, Evidence(GROUP_FILE, f"no {name} group"))
    members = [m for m in (line.split(":") + [""] * 4)[3].split(",") if m.strip()]
    field = f"{GROUP_FILE} {name} members"
    if not members:
        return verdict(Outcome.PASS, Evidence(field, "none"))
    return verdict(
        Outcome.MANUAL,
        Evidence(field, ", ".join(members)),
        reason=(
            f"Confirm that each member of the {name} group is a trusted administrator: "
            "membership is root on this host. Accounts whose primary group it is and members "
            "from a directory service (LDAP, SSSD) are not listed in /etc/group."
        ),
    )


@rule(
    id="DMN-HOST-HARDENED",
    title="Container host hardening to be confirmed",
    title_fr="Durcissement de l'hôte de conteneurs à confirmer",
    severity=Severity.INFO,
    scope=Scope.DAEMON,
    rationale=(
        "Containers share the host's kernel: a host left on defaults (open services, no "
        "mandatory access control, unpatched kernel) weakens every container on it."
    ),
    rationale_fr=(
        "Les conteneurs partagent le noyau de l'hôte : un hôte laissé par défaut (services "
        "ouverts, pas de contrôle d'accès obligatoire, noyau non corrigé) fragilise chacun."
    ),
    remediation=Remediation(
        en=(
            "Harden the host against the CIS benchmark of its distribution (or a minimal "
            "container OS), keep its kernel patched and enable AppArmor or SELinux."
        ),
        fr=(
            "Durcissez l'hôte selon le référentiel CIS de sa distribution (ou un OS minimal "
            "pour conteneurs), maintenez son noyau à jour et activez AppArmor ou SELinux."
        ),
    ),
    owasp=(0,),
    cis=("1.2.1",),
    cis_v18=("1.2.1",),
    cis_level=1,
    source=Source.SSH,
    decided_by="a person: the host's hardening is reviewed, not measured",
)
def host_hardened(h: HostFacts) -> Result:
    access = access_of(h)
    if isinstance(access, Result):
        return access
    return Result(
        Outcome.MANUAL,
        reason=(
            "Confirm the host follows its distribution's CIS benchmark, runs only what it "
            "needs, and has AppArmor or SELinux enforcing."
        ),
    )
