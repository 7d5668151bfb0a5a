"""``python -m etl_platform.warm_spark status|stop``: the warm Spark Connect server of this environment."""

from __future__ import annotations

import argparse
import sys

from etl_platform.environment import spark_server_dir
from etl_platform.warm_spark import server_status, stop_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl_platform.warm_spark", description=__doc__)
    parser.add_argument("action", choices=["status", "stop"])
    action = parser.parse_args(argv).action
    folder = spark_server_dir()
    state = server_status(folder) if action == "status" else stop_server(folder)
    if state is None:
        print(f"no Spark Connect server running for {folder}")
    else:
        verb = "running" if action == "status" else "stopped"
        print(f"{verb}: Spark Connect server pid {state.jvm_pid} on 127.0.0.1:{state.port} ({folder})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
