import pytest


@pytest.fixture(autouse=True)
def _spark_session(spark) -> None:
    """Some tests run a script's code in this process, which calls SparkSession.builder.getOrCreate()."""
