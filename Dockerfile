# flaskou's production image. Build:  docker build -t flaskou .
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# A virtualenv, copied whole into the final stage: no compilers, no pip cache,
# no sources there.
RUN python3 -m venv /opt/flaskou
# Exactly the locked runtime versions and build backend, every file checked
# against its hash (its own layer: rebuilt only when a lock changes) ...
COPY requirements/runtime.txt requirements/build.txt ./requirements/
RUN /opt/flaskou/bin/pip install --require-hashes \
      -r requirements/runtime.txt -r requirements/build.txt
# ... then flaskou itself, built by that backend, pulling in nothing the lock
# left out. The build tools and installers go (a 3.11 venv starts with
# setuptools, a 3.12 one without): the image holds the runtime lock and flaskou.
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/flaskou/bin/pip install --no-deps --no-build-isolation . \
 && /opt/flaskou/bin/pip check \
 && /opt/flaskou/bin/pip uninstall --yes setuptools wheel pip

FROM ${BASE_IMAGE}

# uid/gid 999 as in flaskou's first image; the instance folder (SQLite
# database, generated files, local uploads) lives on a volume.
RUN groupadd --system --gid 999 flaskou \
 && useradd --system --uid 999 --gid flaskou --home-dir /var/lib/flaskou --shell /usr/sbin/nologin flaskou \
 && mkdir -p /var/lib/flaskou/uploads \
 && chown -R flaskou:flaskou /var/lib/flaskou

COPY --from=build /opt/flaskou /opt/flaskou
COPY gunicorn.conf.py /etc/flaskou/gunicorn.conf.py
COPY docker/entrypoint.sh /usr/local/bin/flaskou-entrypoint

ENV PATH=/opt/flaskou/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FLASK_APP=flaskou \
    INSTANCE_PATH=/var/lib/flaskou \
    BIND=0.0.0.0:5000

USER flaskou
WORKDIR /var/lib/flaskou
VOLUME ["/var/lib/flaskou"]
EXPOSE 5000

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:5000/healthz', timeout=4).status != 200)"]

ENTRYPOINT ["flaskou-entrypoint"]
CMD ["gunicorn", "-c", "/etc/flaskou/gunicorn.conf.py", "flaskou.wsgi:app"]
