# One image for web, worker and beat.
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HPO_VAR_DIR=/app/var

RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 portal

WORKDIR /app
# The locked, hashed dependencies first (a layer that changes only with the lock), then the portal.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY . .
RUN pip install --no-deps . \
    && pip check \
    && DEBUG=1 python manage.py collectstatic --noinput \
    && mkdir -p /app/var && chown -R portal:portal /app/var

USER portal
EXPOSE 8000
CMD ["gunicorn", "hpo_portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
