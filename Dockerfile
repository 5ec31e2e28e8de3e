# One image for web, worker and beat (see docker-compose.yml).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 VAR_DIR=/var/lib/governance
RUN apt-get update && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /app --uid 10001 governance \
    && mkdir -p /var/lib/governance && chown governance /var/lib/governance
WORKDIR /app
COPY pyproject.toml README.md ./
COPY governance ./governance
COPY datasets ./datasets
COPY consent ./consent
RUN pip install .
COPY . .
# collectstatic needs settings that import; this throwaway key is never used at run time.
RUN SECRET_KEY=collectstatic-only-$(head -c 48 /dev/urandom | base64 | tr -dc a-zA-Z0-9) \
    python manage.py collectstatic --noinput --verbosity 0
USER governance
EXPOSE 8000
CMD ["gunicorn", "governance.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120"]
