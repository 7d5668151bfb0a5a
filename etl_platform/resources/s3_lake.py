"""The lake as an S3 bucket (the AWS profile): same keys and layout as the local folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from dagster_aws.s3 import S3Resource

from etl_platform.resources.lake import Lake, LakeObject, check_key


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
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return self._object(head, self._key(key))

    def put_file(self, source: Path, key: str) -> LakeObject:
        # An S3 PUT (or completed multipart upload) is atomic: listings never show part of it.
        self.s3.get_client().upload_file(str(source), self.bucket, self._key(key))
        stored = self.stat(key)
        assert stored is not None, f"{self.uri(key)} vanished right after upload"
        return stored
