# Production image: the bridge and nothing else (no simulators, demo, tests or benchmark).
#   docker build -t fablab-bridge .
#   docker run --rm -p 8000:8000 --env-file .env fablab-bridge
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PORT=8000
WORKDIR /app
COPY requirements.lock ./
# Every transitive dependency exactly as locked, hashes checked.
RUN python -m venv /app/.venv && /app/.venv/bin/pip install --require-hashes -r requirements.lock
COPY bridge ./bridge
COPY main_run.py gunicorn.conf.py ./
EXPOSE 8000
CMD ["/app/.venv/bin/gunicorn", "main_run:app"]
