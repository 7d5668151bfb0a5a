"""Failure alerts published to SNS reach a subscriber (an SQS queue, in moto)."""

import json

import boto3
from moto import mock_aws

from etl_platform.resources.sns import SnsNotifier

REGION = "us-east-1"


def test_alert_is_published_as_json_with_a_subject(fake_aws_credentials) -> None:
    with mock_aws():
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        alert = {"run_id": "r1", "asset": "sales_daily", "step": "sales_daily", "error": "x" * 300}
        SnsNotifier(topic_arn=topic, region_name=REGION).send(alert)
        (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(message["Body"])
    assert json.loads(envelope["Message"]) == alert
    assert envelope["Subject"] == "etl_platform alert: sales_daily failed"
