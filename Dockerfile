# The vigil worker and tools, installed the way pyproject.toml says.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    NUMBA_CACHE_DIR=/tmp/numba-cache

WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY streams ./streams
RUN pip install . && useradd --create-home vigil
USER vigil
ENV VIGIL_DATA_DIR=/home/vigil/state

ENTRYPOINT ["vigil"]
CMD ["worker"]
