"""The lake as an S3 bucket (the AWS profile): same keys and layout as the local folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from dagster_aws.s3 import S3Resource

from etl_platform.resources.lake import Lake, LakeObject, check_key


def _is_missing(error: ClientError) -> bool:
    """HEAD answers a missing key with 404/NotFound, GET with NoSuchKey."""
    return error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


class S3Lake(Lake):
    """Objects under ``s3://bucket/prefix``; identity is the ETag, so a re-upload is a new object."""

    bucket: str
    prefix: str = ""
    s3: S3Resource

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key) if key else self.prefix

    def _object(self, item: dict[str, Any], key: str) -> LakeObject:
        return LakeObject(
            key=key[len(self.prefix) :],
            size=int(item.get("Size", item.get("ContentLength", 0))),
            modified=item["LastModified"].timestamp(),
            etag=str(item.get("ETag", "")).strip('"') or None,
        )

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def list_objects(self, prefix: str) -> Iterator[LakeObject]:
        paginator = self.s3.get_client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            for item in page.get("Contents", []):
                yield self._object(item, item["Key"])

    def list_page(self, prefix: str, start_after: str, limit: int) -> tuple[list[LakeObject], bool]:
        # One ListObjectsV2 call: S3 returns keys in order after StartAfter, at most MaxKeys.
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._key(prefix), "MaxKeys": limit}
        if start_after:
            request["StartAfter"] = self._key(start_after)
        response = self.s3.get_client().list_objects_v2(**request)
        page = [self._object(item, item["Key"]) for item in response.get("Contents", [])]
        return page, bool(response.get("IsTruncated"))

    def stat(self, key: str) -> LakeObject | None:
        try:
            head = self.s3.get_client().head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if _is_missing(error):
                return None
            raise
        return self._object(head, self._key(key))

    def read_bytes(self, key: str) -> bytes | None:
        try:
            response = self.s3.get_client().get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if _is_missing(error):
                return None
            raise
        return response["Body"].read()

    def write_bytes(self, key: str, data: bytes) -> None:
        # A single PUT replaces the object atomically; S3 reads after it are strongly consistent.
        self.s3.get_client().put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def copy_object(self, source_key: str, target_key: str) -> LakeObject:
        # copy() is boto3's managed copy: multipart above 8 MB, so objects over 5 GB copy too.
        self.s3.get_client().copy(
            {"Bucket": self.bucket, "Key": self._key(source_key)}, self.bucket, self._key(target_key)
        )
        copied = self.stat(target_key)
        assert copied is not None, f"{self.uri(target_key)} vanished right after the copy"
        return copied

    def delete_prefix(self, prefix: str) -> int:
        client = self.s3.get_client()
        keys = [self._key(obj.key) for obj in self.list_objects(prefix)]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
            batch = keys[start : start + 1000]
            client.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
        return len(keys)

    def put_file(self, source: Path, key: str) -> LakeObject:
        # An S3 PUT (or completed multipart upload) is atomic: listings never show part of it.
        self.s3.get_client().upload_file(str(source), self.bucket, self._key(key))
        stored = self.stat(key)
        assert stored is not None, f"{self.uri(key)} vanished right after upload"
        return stored
