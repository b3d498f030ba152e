# deepkernel API image: slim Python, non-root, health-checked.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/app/numba-cache \
    DEEPKERNEL_HOST=0.0.0.0 \
    DEEPKERNEL_PORT=8000

WORKDIR /app
COPY pyproject.toml README.md ./
COPY core ./core
COPY api ./api
COPY service ./service
RUN pip install ".[dask]" \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin deepkernel
# numba compiles on first use (about a minute on 2 cores): done here, the workers load it
RUN deepkernel warmup && chown -R deepkernel:deepkernel /app/numba-cache

USER deepkernel
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]

CMD ["deepkernel", "serve", "--host", "0.0.0.0", "--port", "8000"]
