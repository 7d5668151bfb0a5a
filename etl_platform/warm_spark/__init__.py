"""Warm local Spark: one Spark Connect server kept running across steps and Dagster runs.

Each step runs in its own process, and a Spark JVM per script costs seconds to start and more to
warm up; a server the steps share must outlive them. The first step that needs it starts a
detached keeper process (``keeper``) that owns the server's JVM; later steps, in any process, find
it through a folder (``folder``), check it answers, and lease it while their script runs, with a
Connect session of its own (``SPARK_REMOTE``). The keeper stops the server after an idle timeout;
``python -m etl_platform.warm_spark stop`` (``make spark-stop``) stops it at once.
"""

from etl_platform.warm_spark.folder import ServerState
from etl_platform.warm_spark.server import ServerStartError, leased_server, server_status, stop_server
from etl_platform.warm_spark.settings import ServerSettings

__all__ = ["ServerSettings", "ServerStartError", "ServerState", "leased_server", "server_status", "stop_server"]
