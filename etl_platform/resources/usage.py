"""What one engine run used, and what it costs at list prices: the same three metadata entries on
every materialisation, whichever engine built it, so inputs can be compared in the UI.

The prices are AWS's public on-demand list prices in us-east-1 (2026); other regions and
discounts differ, so the figure is an estimate to compare engines, not a bill. The engines report
usage in their own units (Glue DPU-seconds, Athena bytes scanned, EMR Serverless vCPU-, memory-
and storage-hours); no Dagster or dagster-aws API turns them into money, hence this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import dagster as dg

# Glue: per DPU-hour, billed per second with a 1-minute minimum per job run (Glue 2.0 and later).
GLUE_USD_PER_DPU_HOUR = 0.44
GLUE_MINIMUM_SECONDS = 60
# DPUs per worker of each Glue worker type.
GLUE_WORKER_DPUS = {"G.025X": 0.25, "G.1X": 1.0, "G.2X": 2.0, "G.4X": 4.0, "G.8X": 8.0}
# Athena: per TB (10^12 bytes) scanned, at least 10 MB per query; DDL statements are free.
ATHENA_USD_PER_TB = 5.0
ATHENA_MINIMUM_BYTES = 10 * 10**6
# EMR Serverless: per vCPU-hour, per GB-hour of memory, per GB-hour of ephemeral storage (the
# first 20 GB of each worker are free, which the service's billed usage already leaves out).
EMR_USD_PER_VCPU_HOUR = 0.052624
EMR_USD_PER_GB_HOUR = 0.0057785
EMR_USD_PER_STORAGE_GB_HOUR = 0.000111

ENGINE = "engine"
ENGINE_RUN = "engine_run"
ENGINE_USAGE = "engine_usage"
ESTIMATED_COST = "estimated_cost_usd"


@dataclass(frozen=True)
class EngineUsage:
    """``engine``: where the build ran (``glue``, ``athena``, ``emr_serverless``, ``local_spark``,
    ``duckdb``); ``usage``: what it used, in that engine's units; ``estimated_cost_usd``: at list
    prices (0 on this machine, None when the engine could not say); ``run``: which run of the
    engine it was (its ids and links, as the engine names them)."""

    engine: str
    usage: Mapping[str, Any] = field(default_factory=dict)
    estimated_cost_usd: float | None = 0.0
    run: Mapping[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, dg.MetadataValue]:
        cost = self.estimated_cost_usd
        return {
            ENGINE: dg.MetadataValue.text(self.engine),
            ENGINE_RUN: dg.MetadataValue.json(dict(self.run)),
            ENGINE_USAGE: dg.MetadataValue.json(dict(self.usage)),
            # null, not a misleading 0, when the engine could not say what it used
            ESTIMATED_COST: dg.MetadataValue.null() if cost is None else dg.MetadataValue.float(round(cost, 6)),
        }

    def of_run(self, run: Mapping[str, Any]) -> EngineUsage:
        return replace(self, run=run)


def unknown_usage(engine: str, reason: str) -> EngineUsage:
    """A build whose engine could not say what it used: the usage names why, and there is no cost."""
    return EngineUsage(engine, {"unknown": reason}, None)


def client_run(metadata: Mapping[str, dg.MetadataValue]) -> dict[str, Any]:
    """A dagster-aws Pipes client's entries about its run (``AWS Glue Job Run ID``, its URL...) as
    plain values, kept under one key so every engine's materialisation has the same entries."""
    return {label: entry.value for label, entry in metadata.items()}


def local_usage(engine: str, wall_seconds: float, run: Mapping[str, Any] | None = None) -> EngineUsage:
    """A build on this machine: its wall time, no bill."""
    return EngineUsage(engine, {"wall_seconds": round(wall_seconds, 3)}, run=run or {})


def glue_usage(execution_seconds: float, dpus: float, dpu_seconds: float | None = None) -> EngineUsage:
    """A Glue job run: ``dpu_seconds`` when Glue reports them (auto-scaling, Flex), else its
    execution time times its DPUs; billed for at least a minute."""
    used = dpu_seconds if dpu_seconds is not None else execution_seconds * dpus
    billed = max(used, GLUE_MINIMUM_SECONDS * dpus)
    return EngineUsage(
        "glue",
        {"execution_seconds": execution_seconds, "dpus": dpus, "dpu_seconds": round(used, 3)},
        billed / 3600 * GLUE_USD_PER_DPU_HOUR,
    )


def athena_usage(bytes_scanned: Sequence[int], query_ids: Sequence[str] = ()) -> EngineUsage:
    """Athena queries (``bytes_scanned`` per query; DDL statements are not listed; ``query_ids``
    of every statement run)."""
    billed = sum(max(scanned, ATHENA_MINIMUM_BYTES) for scanned in bytes_scanned)
    return EngineUsage(
        "athena",
        {"queries": len(bytes_scanned), "bytes_scanned": sum(bytes_scanned)},
        billed / 10**12 * ATHENA_USD_PER_TB,
        {"query_execution_ids": list(query_ids)},
    )


def emr_serverless_usage(vcpu_hours: float, memory_gb_hours: float, storage_gb_hours: float) -> EngineUsage:
    """An EMR Serverless job run's billed resource utilisation."""
    return EngineUsage(
        "emr_serverless",
        {"vcpu_hours": vcpu_hours, "memory_gb_hours": memory_gb_hours, "storage_gb_hours": storage_gb_hours},
        vcpu_hours * EMR_USD_PER_VCPU_HOUR
        + memory_gb_hours * EMR_USD_PER_GB_HOUR
        + storage_gb_hours * EMR_USD_PER_STORAGE_GB_HOUR,
    )
