"""Failure alerts to an SNS topic (the AWS profile); subscribers choose e-mail, chat or a queue."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import boto3

from etl_platform.resources.notifier import Notifier

log = logging.getLogger(__name__)
SUBJECT_LIMIT = 100  # SNS rejects longer subjects


class SnsNotifier(Notifier):
    topic_arn: str
    region_name: str

    def send(self, alert: Mapping[str, Any]) -> None:
        message = json.dumps(dict(alert), sort_keys=True, default=str)
        about = alert.get("asset") or alert.get("job") or "run"
        subject = f"etl_platform alert: {about} failed".encode("ascii", "replace").decode()[:SUBJECT_LIMIT]
        log.error("ALERT %s", message)
        boto3.client("sns", region_name=self.region_name).publish(
            TopicArn=self.topic_arn, Subject=subject, Message=message
        )
