"""Spark Connect as the code location sees it: how local Spark is configured, and a server's address
apart from its token. The server itself (``etl_platform.spark_service``) is local tooling, which the
orchestrator's image neither runs nor imports.

A Connect URL may carry a token (``sc://host:port/;token=...``), and whoever holds it runs code on the
server as its account. So the token is never part of what Dagster shows or stores (resource config,
metadata, logs): it travels in the environment of the processes that connect, as
``SPARK_CONNECT_AUTHENTICATE_TOKEN``, which the Connect client reads when the URL has none.
"""

from __future__ import annotations

# How the platform runs Spark on this machine, in the server or in a script's own JVM.
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.log.level": "WARN",
    "spark.sql.adaptive.enabled": "true",
}
# The Connect client's (and server's) own variable for the token.
TOKEN_VARIABLE = "SPARK_CONNECT_AUTHENTICATE_TOKEN"
_TOKEN_PARAMETER = "token"


def address(remote: str) -> str:
    """A Spark Connect URL without its parameters (a token among them), fit for a log."""
    return remote.split("/;", 1)[0].split(";", 1)[0]


def split_token(remote: str) -> tuple[str, str | None]:
    """The URL without its token (its other parameters kept), and the token if it had one."""
    base, _, parameters = remote.partition("/;")
    kept, token = [], None
    for parameter in filter(None, parameters.split(";")):
        name, _, value = parameter.partition("=")
        if name.strip() == _TOKEN_PARAMETER:
            token = value
        else:
            kept.append(parameter)
    return (f"{base}/;{';'.join(kept)}" if kept else base), token
