"""Errors of the contract itself, and the words that mean storage trouble in a Spark or S3 error."""

from __future__ import annotations

import re


class ContractError(ValueError):
    """A job argument or a reported record that does not follow the contract (one line)."""


class InputError(ContractError):
    """A landing file the contract refuses (empty, not UTF-8, a bad header...): one clear line,
    with the line of the file at fault when known. Every engine reports it as the data's fault."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


# Spark error conditions that mean storage trouble, whatever the input holds: a path or a file
# listed for the read gone, a folder of ours with no Parquet file left in it.
STORAGE_CONDITIONS = frozenset({"PATH_NOT_FOUND", "FAILED_READ_FILE.FILE_NOT_EXIST", "UNABLE_TO_INFER_SCHEMA"})
# The same in the text of errors Spark does not classify: JVM exceptions wrapped by Py4J or
# Spark Connect (their stack traces included), the S3 connectors' and boto3's messages.
STORAGE_TEXT = re.compile(
    r"\[PATH_NOT_FOUND\]|Path does not exist|FILE_NOT_EXIST|File does not exist|FileNotFoundException|\bIOException\b"
    r"|No such file or directory"
    r"|SlowDown|Slow Down|Status Code: 503|Service Unavailable|ServiceUnavailable|Throttling|RequestLimitExceeded"
    r"|Connection reset|Connection refused|Connection closed|ConnectException|ConnectTimeoutException|SocketTimeoutException"
    r"|UnknownHostException|Unable to execute HTTP request|EndpointConnectionError|AmazonS3Exception|SdkClientException|NoSuchKey"
)
# Hadoop's words for a path it cannot parse (a ':' in a file name that landed without `land`'s
# check): every attempt fails alike, so the input's name is at fault, not the storage.
UNPARSABLE_PATH_TEXT = re.compile(r"URISyntaxException: ([^\n]*)")
