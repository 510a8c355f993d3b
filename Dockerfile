# Production image for web, worker and beat (see docker-compose.yml).
# The base image by digest, so that a rebuild cannot pull another image under the same tag.
# The digests here (and compose's) are the multi-platform indexes that Docker's official
# images record in github.com/docker-library/repo-info (repos/<name>/remote/<tag>.md) for
# these tags; `scripts/pin-images` moves them to the tags' current digests.
# Any Debian-like base with python3 and its venv module will do: tests/system/stack builds
# one with mmdebstrap (no registry) and passes it as --build-arg PYTHON_IMAGE=...
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:0bee7276f83efd4a1ee05bbbf4281d95ed28e079220a9457f25a93e3f1e3c31b
# Where the locked wheels come from: by default pip fetches them from the package index
# during the build. An image of PYTHON_IMAGE that carries them under /wheels installs them
# with no network at all (tests/system/stack: the wheels are downloaded once on the host,
# checked against the same hashes, and every later build is offline and reproducible).
ARG PACKAGES_IMAGE=${PYTHON_IMAGE}

# The locked packages in a virtualenv of their own stage: the image keeps the installed
# tree, not the wheels nor the pip that installed them.
FROM ${PACKAGES_IMAGE} AS packages
COPY requirements.lock /tmp/requirements.lock
# Exactly the locked files (sha256 in requirements.lock, scripts/lock), wheels only: nothing
# is built from source in the image.
RUN python3 -m venv /opt/venv && if [ -d /wheels ]; then set -- --no-index --find-links /wheels; fi && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes --only-binary :all: "$@" -r /tmp/requirements.lock

FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    POSTURE_DATA_DIR=/data \
    POSTURE_STATIC_ROOT=/app/staticfiles \
    PATH=/opt/venv/bin:$PATH

# A fixed, unprivileged uid (cheat-sheet rule 2): nothing in the image runs as root.
RUN groupadd --system --gid 10001 posture \
 && useradd --system --uid 10001 --gid posture --home-dir /app --shell /usr/sbin/nologin posture

# OpenSSH's client: ssh:// hosts are read through it (one multiplexed connection, encryption
# in C; scans/transports/openssh.py). Without it workers fall back to paramiko, at about
# twice the time and CPU per scan (docs/BENCHMARKS.md, issue 15). Bases that carry it already
# (tests/system/stack's) need no package index here.
RUN command -v ssh >/dev/null || { apt-get update \
 && apt-get install -y --no-install-recommends openssh-client \
 && rm -rf /var/lib/apt/lists/*; }

WORKDIR /app
COPY --from=packages /opt/venv /opt/venv
# Only the product: .dockerignore lets in manage.py, the apps, rules, templates, static and
# locale, and keeps out secrets, var/, .git, tests/, lab/, bench/ and docs/.
COPY --chown=root:root . /app/
# Static files are built into the image, so the root filesystem can be read-only at run time.
RUN POSTURE_SECRET_KEY=collectstatic POSTURE_ENCRYPTION_KEYS=collectstatic \
    POSTURE_DATA_DIR=/tmp/build python manage.py collectstatic --noinput \
 && rm -rf /tmp/build && mkdir -p /data && chown posture:posture /data

USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 --start-period=30s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
CMD ["gunicorn", "posture.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", \
     "--worker-tmp-dir", "/dev/shm", "--no-control-socket", "--access-logfile", "-"]
