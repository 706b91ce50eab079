# crmstream worker image.
#
#   docker build -t crmstream .
#   docker run --rm -p 127.0.0.1:6066:6066 \
#     -e CRMSTREAM_KAFKA_BOOTSTRAP_SERVERS=... -e CRMSTREAM_ELASTICSEARCH_URL=... crmstream
#
# Configuration is by CRMSTREAM_* environment variables (see config/settings.py).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    CRMSTREAM_STATE_DIR=/var/lib/crmstream \
    CRMSTREAM_WORKER_WEB_HOST=0.0.0.0 \
    CRMSTREAM_WORKER_WEB_PORT=6066

# Unprivileged runtime user; its state directory is created here so that a
# named volume mounted on it inherits the ownership.
RUN groupadd --system --gid 10001 crmstream \
 && useradd --system --uid 10001 --gid crmstream --create-home \
        --home-dir /home/crmstream --shell /usr/sbin/nologin crmstream \
 && install -d -o crmstream -g crmstream -m 0750 /var/lib/crmstream

WORKDIR /app

# README.m[d]: pyproject.toml names README.md as the readme; the glob keeps the
# COPY from failing on its own if the file is absent.
COPY pyproject.toml README.m[d] ./
COPY crmstream ./crmstream
COPY streams ./streams
COPY agents ./agents
COPY models ./models
COPY schemas ./schemas
COPY config ./config

RUN pip install --no-cache-dir . \
 && rm -rf /app/build /app/*.egg-info

USER crmstream

EXPOSE 6066

CMD ["crmstream", "worker"]
