# The orchestrator's image (infra/orchestrator.yaml): the code server by default; the webserver,
# the daemon and each run are the same image with their own command. Spark runs on Glue and EMR
# Serverless, so there is no Java here: pyspark is installed (a dependency) but never starts a JVM.
# The SQL inputs' texts (sql-scripts/) are sent to Athena by the runs themselves.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home

WORKDIR /opt/dagster/app

COPY pyproject.toml constraints.txt README.md ./
COPY etl_platform ./etl_platform
COPY glue-scripts ./glue-scripts
COPY sql-scripts ./sql-scripts

# The versions CI tested (constraints.txt). Editable, so the package stays beside glue-scripts/ and
# sql-scripts/: it finds the transforms (and their code versions) from its own folder (etl_platform/project.py).
RUN pip install -c constraints.txt -e . \
    && useradd --system --uid 10001 --home-dir /opt/dagster --shell /usr/sbin/nologin dagster \
    && mkdir -p "$DAGSTER_HOME" \
    && chown dagster "$DAGSTER_HOME"

# The instance (PostgreSQL, EcsRunLauncher, compute logs in S3, all from environment variables)
# and the workspace that names the code server. Root-owned: the processes read them, never write.
COPY deploy/dagster.aws.yaml /opt/dagster/dagster_home/dagster.yaml
COPY deploy/workspace.aws.yaml ./workspace.yaml

USER dagster

# 4000: the code server's gRPC; 3000: the webserver.
EXPOSE 4000 3000
CMD ["dagster", "code-server", "start", "-m", "etl_platform.definitions", "-h", "0.0.0.0", "-p", "4000"]
