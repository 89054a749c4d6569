# profitmaker-server: a slim, non-root image serving the simulated exchange by default.
#   docker build -t profitmaker-server .
#   docker run -e API_TOKEN="$(openssl rand -hex 32)" -p 3001:3001 profitmaker-server
# Listening on 0.0.0.0 needs API_TOKEN (the default token is refused off loopback).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/profitmaker
# Installed from the project's own files: the pinned dependencies of pyproject.toml.
COPY pyproject.toml README.md ./
COPY app ./app
COPY config ./config
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin profitmaker

USER 10001
ENV HOST=0.0.0.0 \
    PORT=3001 \
    PROFITMAKER_CONFIG=/srv/profitmaker/config/sim.toml \
    LOG_FORMAT=json
# 3001: REST, docs, Socket.IO; 3002: Socket.IO on port + 1 (socket_port).
EXPOSE 3001 3002
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import os, sys, urllib.request; \
url = 'http://127.0.0.1:%s/health' % os.environ.get('PORT', '3001'); \
sys.exit(0 if urllib.request.urlopen(url, timeout=2).status == 200 else 1)"
# SIGHUP reloads [[tokens]] from PROFITMAKER_CONFIG: docker kill --signal=HUP <container>
CMD ["profitmaker-server"]
