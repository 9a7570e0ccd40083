# finops-bot: `docker build -t finops-bot .` then `docker run -p 3000:3000 finops-bot`
# (the embedded demo on SQLite). In production set DATABASE_URL, FINOPS_CONFIG and the Slack
# variables, and run `finops-bot db upgrade` once per release before the new pods start.
FROM python:3.11-slim AS build
COPY . /src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels /src

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# the project's wheel (built from the sources above) and its dependencies from PyPI
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --user-group --home-dir /data --create-home \
       --shell /usr/sbin/nologin finops

# the working directory holds the default SQLite file (./finops-bot.db) when DATABASE_URL is unset
WORKDIR /data
USER 10001

ENV HOST=0.0.0.0 \
    PORT=3000
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

CMD ["finops-bot", "run"]
