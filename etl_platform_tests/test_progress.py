"""The demo's progress lines, from a real in-process run read back from its instance."""

import io
import re
import sys
import threading
import uuid

import dagster as dg

from etl_platform.progress import step_progress

LINE = re.compile(r"^  (\w+) +(ok|failed|retry|not run)(?: +(\d+\.\d) s)?(?:  \(checks not passed: (.*)\))?$")


class Terminal(io.StringIO):
    """Standard output for the test: what the display printed, and whether raw's line is out yet."""

    def __init__(self) -> None:
        super().__init__()
        self.raw_line = threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if "  raw " in self.getvalue():
            self.raw_line.set()
        return written


def _terminal(monkeypatch) -> Terminal:
    """Stands in for standard output; set in the test itself, as pytest resets it between phases."""
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    return terminal


def _job(terminal: Terminal, seen_live: threading.Event) -> dg.JobDefinition:
    attempts = []

    @dg.asset(check_specs=[dg.AssetCheckSpec("has_rows", asset="raw")])
    def raw() -> dg.MaterializeResult:
        return dg.MaterializeResult(
            check_results=[dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)]
        )

    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=1))
    def flaky() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("transient")

    @dg.asset(deps=[raw])
    def checker() -> None:
        """Runs after raw: its line must be out while the run is still going."""
        if terminal.raw_line.wait(timeout=20):
            seen_live.set()

    @dg.asset(deps=[checker])
    def broken() -> None:
        raise dg.Failure(description="bad input")

    @dg.asset(deps=[broken])
    def report() -> None: ...

    return dg.Definitions(assets=[raw, flaky, checker, broken, report]).resolve_implicit_global_asset_job_def()


def test_a_line_per_step_as_it_ends_then_the_steps_left(monkeypatch) -> None:
    terminal, seen_live = _terminal(monkeypatch), threading.Event()
    job = _job(terminal, seen_live)
    run_id = str(uuid.uuid4())
    with dg.instance_for_test() as instance:
        with step_progress(instance, run_id, [node.name for node in job.nodes_in_topological_order]):
            result = job.execute_in_process(instance=instance, run_id=run_id, raise_on_error=False)
    assert not result.success
    parsed = [LINE.match(line) for line in terminal.getvalue().splitlines()]
    assert all(parsed), terminal.getvalue()
    outcomes = [(m[1], m[2], m[4]) for m in parsed]  # type: ignore[index]
    assert sorted(outcomes) == sorted(
        [
            ("raw", "ok", "has_rows"),
            ("flaky", "retry", None),
            ("flaky", "ok", None),
            ("checker", "ok", None),
            ("broken", "failed", None),
            ("report", "not run", None),
        ]
    )
    assert all(m[3] for m in parsed if m[2] != "not run")  # type: ignore[index]  # every step that ran has its time
    assert outcomes.index(("flaky", "retry", None)) < outcomes.index(("flaky", "ok", None))
    assert outcomes[-1] == ("report", "not run", None)
    assert seen_live.is_set(), "raw's line was printed only after the run"


def test_a_run_that_never_starts_leaves_no_event_log_behind(tmp_path, monkeypatch) -> None:
    terminal = _terminal(monkeypatch)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        run_id = str(uuid.uuid4())
        with step_progress(instance, run_id, ["a"]):
            pass  # the run was never created (e.g. its config was refused); the last read still happens
        assert not list(tmp_path.rglob(f"{run_id}*"))
    assert terminal.getvalue() == "  a  not run\n"
