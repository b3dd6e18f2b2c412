# syntax=docker/dockerfile:1

FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/tidings
# Whole directories, so files added under them (templates, static assets) come along;
# widget/dist is the built widget that pyproject.toml packages as data.
# tests/ops/test_docker_image.py builds the wheel from exactly these paths.
COPY pyproject.toml README.md ./
# app/ holds the console's templates and committed static files too (package data).
COPY app ./app
COPY migrations ./migrations
COPY widget/dist ./widget/dist
RUN /opt/tidings/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /data --create-home tidings
COPY --from=build /opt/tidings /opt/tidings
ENV PATH="/opt/tidings/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    TIDINGS_DATABASE_URL="sqlite+aiosqlite:////data/tidings.db" \
    TIDINGS_ENVIRONMENT=production
USER tidings
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["tidings", "serve", "--host", "0.0.0.0", "--port", "8000"]
