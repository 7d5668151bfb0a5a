"""How the warm server is started: what the local environment configures (``etl_platform.environment``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class ServerSettings:
    folder: str
    master: str = "local[*]"
    driver_memory: str = "2g"
    spark_conf: dict[str, str] = field(default_factory=dict)
    idle_seconds: float = 600
    start_timeout_seconds: float = 180

    @property
    def fingerprint(self) -> str:
        """Changes when the server would have to be started differently (not with the idle timeout)."""
        started_with = {"master": self.master, "driver_memory": self.driver_memory, "spark_conf": self.spark_conf}
        return hashlib.sha256(json.dumps(started_with, sort_keys=True).encode()).hexdigest()[:16]

    def to_json(self) -> str:
        return json.dumps(asdict(self))
