# fleetbed API image.
#
# The project is installed in editable form from /srv/fleetbed: app/migrations.py finds
# alembic/ and alembic.ini next to the `app` package, so the source tree must stay
# in place and importable from there. A non-editable install would move `app` into
# site-packages, away from its migrations.
#
# Configuration comes from the environment (see README.md):
#   FLEETBED_DATABASE_URL      postgresql+asyncpg://fleetbed:fleetbed@db:5432/fleetbed
#   FLEETBED_REDIS_URL         redis://redis:6379/0
#   FLEETBED_AUTH__JWT_SECRET  shared HS256 signing key; required when more than one
#                              API process runs

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: a virtualenv with the dependencies and the project ------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /srv/fleetbed

# Dependencies first, read from pyproject.toml at the versions of constraints.txt, so
# that this layer is only rebuilt when they change and not on every source edit.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
 && pip install --no-cache-dir --upgrade pip \
 && pip install --no-cache-dir -c constraints.txt -r /tmp/requirements.txt

# Then the project itself, in place: the editable finder maps `app`, `fleet`, `demo`,
# `telemetry` and `geofencing` to /srv/fleetbed, and installs the `fleetbed` command.
COPY . .
RUN pip install --no-cache-dir --no-deps -e . \
 && python -m compileall -q app fleet telemetry geofencing demo alembic \
 && python -c "from app.migrations import SCRIPT_LOCATION, head_revision; assert head_revision(), SCRIPT_LOCATION"

# ---- runtime: the same paths, no build leftovers, an unprivileged user ----------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN groupadd --system --gid 10001 fleetbed \
 && useradd --system --uid 10001 --gid fleetbed --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin fleetbed

# Same paths as in the build stage: the editable install refers to them absolutely.
# Owned by root and read-only for the service user.
COPY --from=build /opt/venv /opt/venv
COPY --from=build /srv/fleetbed /srv/fleetbed

WORKDIR /srv/fleetbed
USER fleetbed:fleetbed

EXPOSE 8000

# python:3.11-slim has no curl; the standard library is enough.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

# Migrate (a no-op when already at head), then hand PID 1 to the server so that it
# receives SIGTERM directly and shuts down cleanly.
CMD ["sh", "-c", "fleetbed migrate && exec fleetbed serve --host 0.0.0.0 --port 8000"]
