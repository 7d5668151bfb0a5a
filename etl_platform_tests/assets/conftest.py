import pytest

from etl_platform_tests.assets.fake_runner import ScriptCalls


@pytest.fixture
def script_calls() -> ScriptCalls:
    """The scripts a test's RecordingRunners (given ``record=script_calls``) were asked to run."""
    return ScriptCalls()
