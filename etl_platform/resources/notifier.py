"""Failure alerts: a JSON line in a local file (and an optional webhook); SNS in the AWS profile."""

from __future__ import annotations

import json
import logging
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

log = logging.getLogger(__name__)


class Notifier(dg.ConfigurableResource, ABC):
    @abstractmethod
    def send(self, alert: Mapping[str, Any]) -> None:
        """Deliver one alert (a flat JSON-able mapping)."""


class LocalNotifier(Notifier):
    """Appends each alert to ``alerts_file`` as one JSON line, logs it, and POSTs it to a webhook if set
    (given as ``dg.EnvVar``, so the UI shows the variable's name, not the URL)."""

    alerts_file: str
    webhook_url: str | None = None
    webhook_timeout_seconds: float = 10

    def send(self, alert: Mapping[str, Any]) -> None:
        line = json.dumps(dict(alert), sort_keys=True, default=str)
        path = Path(self.alerts_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")
        log.error("ALERT %s", line)
        if self.webhook_url:
            request = urllib.request.Request(
                self.webhook_url, data=line.encode(), headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=self.webhook_timeout_seconds):
                    pass
            except OSError as error:
                # The alert is already in the file; a dead webhook must not hide it. The URL is a
                # secret (it often carries a token): never logged.
                log.warning("alert webhook failed: %s", error)
