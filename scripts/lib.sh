# Shared by scripts/run and scripts/test. Sourced, not executed.
# Installs what Posture needs on a Debian machine, skipping what is already there.

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${POSTURE_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_debs PKG...: apt-get install the ones that are missing (one apt-get update first).
ensure_debs() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
}

# ensure_venv LOCKFILE...: a virtualenv with exactly the pinned packages (re-synced when a
# lock file changes).
ensure_venv() {
  local python="${POSTURE_PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    if command -v python3.11 >/dev/null; then python=python3.11; else
      ensure_debs python3 python3-venv; python=python3; fi
  fi
  if [ ! -x "$PY" ]; then
    "$python" -m venv "$VENV" 2>/dev/null || { ensure_debs python3-venv; "$python" -m venv "$VENV"; }
  fi
  local stamp want
  # One stamp per set of lock files, so run and test do not undo each other's work.
  stamp="$VENV/.posture-lock-$(basename -a "$@" | sha1sum | cut -c1-12)"
  want="$(cat "$@" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing Python packages from $(basename -a "$@" | tr '\n' ' ')"
    local args=()
    for f in "$@"; do args+=(-r "$f"); done
    # Only the files whose sha256 the lock names (scripts/lock): a package replaced on the
    # index, or a mirror that serves another build, is refused. The venv's own pip does it
    # (any pip since 8): upgrading pip first would install an unhashed package.
    "$PY" -m pip install -q --disable-pip-version-check --require-hashes "${args[@]}"
    echo "$want" >"$stamp"
  fi
}
