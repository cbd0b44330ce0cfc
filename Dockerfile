# The Python 3.11 image: storefront_api (the `migrate`, `storefront_api` and `lookups`
# services of docker-compose.yml) and the merchant dashboard (`dashboard`). Rasa and the action
# server run on Python 3.10 in their own image, bot/Dockerfile.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# README.md is the package's long description (pyproject.toml), so the build needs it.
COPY pyproject.toml README.md ./
COPY storefront_api ./storefront_api
COPY analytics ./analytics
COPY dashboard ./dashboard
RUN pip install .

# Run as a user of its own. var/ holds what settings.py keeps on disk (the generated
# SECRET_KEY, if none is given).
RUN useradd --system --create-home --uid 10001 aisle \
    && mkdir -p /app/var && chown aisle /app/var
USER aisle
# Production mode: storefront_api refuses to start with the test gateway, default or short
# secrets, or mail without TLS (docs/security.md); `make run` is the demo instead.
ENV AISLE_ENV=production AISLE_VAR_DIR=/app/var \
    HOST=0.0.0.0 \
    PORT=8080

EXPOSE 8080
# Migrate (a no-op when the schema is current), then serve. Several containers or processes
# share the load behind a proxy; --reuse-port lets processes of one container share the port.
CMD ["sh", "-c", "python -m storefront_api migrate && exec python -m storefront_api serve --host 0.0.0.0 --reuse-port"]
