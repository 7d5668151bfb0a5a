# The EMR Serverless image (infra/etl_platform.yaml's EmrServerlessApplication): EMR's own Spark
# with Python 3.11, which the scripts and the contract need (enum.StrEnum...), where EMR 7 ships
# 3.9. EMR Serverless accepts only an image built on its base of the application's release label.
# Built from the project folder (docs/aws.md):
#   docker build --platform linux/amd64 -f deploy/emr-serverless.Dockerfile -t URI:TAG .
FROM public.ecr.aws/emr-serverless/spark/emr-7.8.0:latest

USER root

# Amazon Linux 2023's own Python 3.11 (nothing compiled or downloaded from elsewhere), and boto3 at
# the version CI tested (constraints.txt): the scripts read landing files and send Pipes messages
# with it. Spark's own pyspark is on the path EMR sets; dagster-pipes and the contract come with
# the scripts (--py-files).
COPY constraints.txt /tmp/constraints.txt
RUN dnf install -y python3.11 python3.11-pip \
    && dnf clean all \
    && python3.11 -m pip install --no-cache-dir -c /tmp/constraints.txt boto3 \
    && rm /tmp/constraints.txt

# The interpreter of the driver and the executors (the application's spark-defaults name it too).
ENV PYSPARK_PYTHON=/usr/bin/python3.11 \
    PYSPARK_DRIVER_PYTHON=/usr/bin/python3.11

# EMR Serverless runs its images as this user: never root.
USER hadoop:hadoop
