"""The registry of input datasets: declaring one here (plus its transform) adds it everywhere.

Assets, the join's inputs, sensors and checks are generated from these entries, so a third
parallel input needs no code change elsewhere, whichever engine computes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from etl_platform.contract.checks import RowCheck
from etl_platform.contract.columns import SPARK_TYPES, normalize_column_name, quote_identifier
from etl_platform.errors import UserError

LANDING_ZONE = "landing"
PROCESSED_ZONE = "processed"
JOINED_ZONE = "joined"
REPORTS_ZONE = "reports"


class UnknownDatasetError(UserError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class Engine(StrEnum):
    """What computes an input's table; each is a resource key of the same name.

    - ``spark``: a PySpark script of ``glue-scripts/``, on AWS Glue (local Spark locally);
    - ``emr_serverless``: the same kind of script, on EMR Serverless (local Spark locally);
    - ``sql``: one SQL text of ``sql-scripts/``, on Athena (DuckDB locally).
    """

    SPARK = "spark"
    EMR_SERVERLESS = "emr_serverless"
    SQL = "sql"

    @property
    def script_suffix(self) -> str:
        return ".sql" if self is Engine.SQL else ".py"


@dataclass(frozen=True)
class Capacity:
    """Compute for one Spark job: Glue workers (on EMR Serverless, as many executors of the same
    size) and a timeout (the local runner applies the timeout; a SQL input uses only the timeout)."""

    worker_type: str = "G.1X"
    number_of_workers: int = 2
    timeout_minutes: int = 60


def non_negative(*columns: str) -> str:
    return " AND ".join(f"{quote_identifier(column)} >= 0" for column in columns)


@dataclass(frozen=True)
class InputDataset:
    """One parallel input: where its files land, how they look, and what processes them."""

    name: str
    landing_prefix: str
    script: str
    output_table: str
    description: str
    # Expected raw CSV columns and their types (string | bigint | double | boolean | date); header
    # names are matched after trimming and case folding.
    columns: tuple[tuple[str, str], ...]
    date_column: str = "Date"
    date_format: str = "M/d/yyyy"
    row_checks: tuple[RowCheck, ...] = ()
    capacity: Capacity = Capacity()
    # Output column -> the raw columns it is computed from. Unlisted raw columns are taken to
    # flow into the output column of their normalised name (``Mailing list adds `` -> ``mailing_list_adds``).
    lineage: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Quoted values may span lines. Off by default: such files parse in one Spark task instead of
    # being split; with it off, a value broken across lines fails the file with a clear message.
    multiline: bool = False
    # Share of landing rows that may be rejected (unparseable value, wrong field count, bytes that
    # are not UTF-8) with the file still published without them, `parse_rejects` then warning.
    # 0: any rejected row refuses the file, as a table missing rows (revenue) must not look whole.
    # Raise it only for a source known to be noisy.
    max_reject_share: float = 0.0
    # What runs ``script``: a PySpark script for the Spark engines, a SQL text for ``sql``. Row
    # checks' conditions are in the engine's SQL: Spark SQL, or standard SQL (DuckDB and Athena).
    engine: Engine = Engine.SPARK

    def __post_init__(self) -> None:
        if not self.landing_prefix.endswith("/") or self.landing_prefix.startswith("/"):
            raise ValueError(f"dataset {self.name}: landing_prefix must look like 'name/', got {self.landing_prefix!r}")
        unknown = sorted({type_ for _, type_ in self.columns} - SPARK_TYPES.keys())
        if unknown:
            raise ValueError(f"dataset {self.name}: unknown column types {unknown}; known: {sorted(SPARK_TYPES)}")
        if self.date_column not in {name for name, _ in self.columns}:
            raise ValueError(f"dataset {self.name}: date column {self.date_column!r} is not among its columns")
        if not self.script.endswith(self.engine.script_suffix):
            raise ValueError(
                f"dataset {self.name}: the {self.engine.value} engine runs a {self.engine.script_suffix} file, "
                f"got script {self.script!r}"
            )
        if not 0 <= self.max_reject_share < 1:
            raise ValueError(
                f"dataset {self.name}: max_reject_share must be at least 0 and below 1, got {self.max_reject_share!r}"
            )

    @property
    def landing_key_prefix(self) -> str:
        """Lake key prefix of this dataset's landing files, e.g. ``landing/sales/``."""
        return f"{LANDING_ZONE}/{self.landing_prefix}"

    @property
    def table_location(self) -> str:
        return f"{PROCESSED_ZONE}/{self.output_table}"

    @property
    def landing_asset_path(self) -> tuple[str, str]:
        """The key path of the landing zone's (external) asset in Dagster."""
        return (LANDING_ZONE, self.name)

    def column_lineage(self) -> dict[str, tuple[str, ...]]:
        explicit = dict(self.lineage)
        if explicit:
            return explicit
        return {normalize_column_name(name): (name,) for name, _ in self.columns}


@dataclass(frozen=True)
class JoinedTable:
    name: str
    script: str
    description: str
    capacity: Capacity = Capacity()

    @property
    def table_location(self) -> str:
        return f"{JOINED_ZONE}/{self.name}"


@dataclass(frozen=True)
class CorrelationReport:
    """The engagement x sales report over the joined table: every numeric column of the engagement
    input against each sales metric, and one pair of them charted week by week."""

    table: str
    engagement_input: str
    sales_metrics: tuple[str, ...]
    # (engagement metric, sales metric) of the weekly chart.
    weekly: tuple[str, str]

    @property
    def table_location(self) -> str:
        return f"{REPORTS_ZONE}/{self.table}"


ENGAGEMENT_REVENUE = CorrelationReport(
    table="engagement_revenue_correlation",
    engagement_input="marketing",
    sales_metrics=("forecasted_lead_revenue", "leads_generated", "opportunities", "forecasted_monthly_revenue"),
    weekly=("website_visits", "forecasted_lead_revenue"),
)


@dataclass(frozen=True)
class Registry:
    inputs: tuple[InputDataset, ...]
    joined: JoinedTable
    report: CorrelationReport = ENGAGEMENT_REVENUE
    _by_name: dict[str, InputDataset] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for attribute in ("name", "landing_prefix", "output_table"):
            values = [getattr(d, attribute) for d in self.inputs]
            duplicated = sorted({v for v in values if values.count(v) > 1})
            if duplicated:
                raise ValueError(f"dataset registry: {attribute} used more than once: {duplicated}")
        object.__setattr__(self, "_by_name", {d.name: d for d in self.inputs})
        self._check_report()

    def _check_report(self) -> None:
        """The report names only columns the inputs produce: a typo fails here, not in the report's SQL."""
        report = self.report
        engagement = self._by_name.get(report.engagement_input)
        if engagement is None:
            raise ValueError(f"report {report.table}: engagement input {report.engagement_input!r} is not registered")
        produced = {column for d in self.inputs if d is not engagement for column in d.column_lineage()}
        unknown = [metric for metric in report.sales_metrics if metric not in produced]
        if unknown:
            raise ValueError(f"report {report.table}: sales metrics {unknown} are output columns of no other input")
        if report.weekly[0] not in engagement.column_lineage() or report.weekly[1] not in report.sales_metrics:
            raise ValueError(
                f"report {report.table}: the weekly pair {report.weekly} must be a column of {engagement.name} "
                "and one of the sales metrics"
            )

    def dataset(self, name: str) -> InputDataset:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownDatasetError(
                f"unknown dataset {name!r}; registered datasets: {', '.join(self._by_name)}"
            ) from None

    def table_locations(self) -> dict[str, str]:
        """Every table the platform builds, by name, with its location relative to the lake root."""
        tables = {d.output_table: d.table_location for d in self.inputs}
        tables[self.joined.name] = self.joined.table_location
        return tables


SALES = InputDataset(
    name="sales",
    landing_prefix="sales/",
    script="process_sales_data.py",
    output_table="sales_daily",
    description="Sales pipeline per day: opportunities, forecasted and weighted revenue, leads generated.",
    columns=(
        ("Date", "date"),
        ("Salesperson", "string"),
        ("Lead Name", "string"),
        ("Segment", "string"),
        ("Region", "string"),
        ("Target Close", "date"),
        ("Forecasted Monthly Revenue", "bigint"),
        ("Opportunity Stage", "string"),
        ("Weighted Revenue", "bigint"),
        ("Closed Opportunity", "boolean"),
        ("Active Opportunity", "boolean"),
        ("Latest Status Entry", "boolean"),
    ),
    row_checks=(
        RowCheck(
            "non_negative_amounts",
            non_negative("Forecasted Monthly Revenue", "Weighted Revenue"),
            "Every opportunity's forecasted and weighted revenue is zero or more.",
            on="input",
        ),
        RowCheck(
            "non_negative_totals",
            non_negative(
                "opportunities",
                "forecasted_monthly_revenue",
                "weighted_revenue",
                "leads_generated",
                "forecasted_lead_revenue",
            ),
            "Daily counts and revenue sums are zero or more.",
        ),
        RowCheck(
            "leads_within_opportunities",
            "leads_generated <= opportunities",
            "A day cannot generate more leads than it has opportunities.",
        ),
    ),
    lineage=(
        ("date", ("Date",)),
        ("opportunities", ("Date",)),
        ("forecasted_monthly_revenue", ("Date", "Forecasted Monthly Revenue")),
        ("weighted_revenue", ("Date", "Weighted Revenue")),
        ("leads_generated", ("Date", "Opportunity Stage")),
        ("forecasted_lead_revenue", ("Date", "Forecasted Monthly Revenue", "Opportunity Stage")),
    ),
)

MARKETING_METRICS = (
    "New visitors SEO",
    "New visitors CPC",
    "New visitors Social Media",
    "Return visitors",
    "Twitter mentions",
    "Twitter follower adds",
    "Twitter followers cumulative",
    "Mailing list adds",
    "Mailing list cumulative",
    "Website Pageviews",
    "Website Visits",
    "Website Unique Visits",
    "Mobile uniques",
    "Tablet uniques",
    "Desktop uniques",
    "Free sign up",
    "Paid conversion",
)

MARKETING = InputDataset(
    name="marketing",
    landing_prefix="marketing/",
    script="process_marketing_data.py",
    output_table="marketing_daily",
    description="Daily web, social and mailing-list engagement, columns in snake_case.",
    columns=(("Date", "date"), *((metric, "bigint") for metric in MARKETING_METRICS), ("Events", "string")),
    row_checks=(
        RowCheck(
            "non_negative_metrics",
            non_negative(*(normalize_column_name(m) for m in MARKETING_METRICS if m != "Twitter follower adds")),
            "Visitor, follower, mailing-list and sign-up counts are zero or more (follower adds may be negative).",
        ),
    ),
)

REGISTRY = Registry(
    inputs=(SALES, MARKETING),
    joined=JoinedTable(
        name="sales_marketing_daily",
        script="join_marketing_and_sales_data.py",
        description="Every processed daily input joined on date (inner join), ascending by date.",
    ),
    report=ENGAGEMENT_REVENUE,
)

# An input of the SQL engine: advertising spend per day and channel, summed per day by one SQL
# text (``sql-scripts/process_ad_spend.sql``) on DuckDB locally and Athena on AWS. Its conditions
# are standard SQL, as the engine runs them.
AD_SPEND = InputDataset(
    name="ad_spend",
    landing_prefix="ad_spend/",
    script="process_ad_spend.sql",
    output_table="ad_spend_daily",
    description="Advertising spend per day over every channel: spend, impressions, clicks, channels running.",
    columns=(
        ("Date", "date"),
        ("Channel", "string"),
        ("Campaign", "string"),
        ("Spend", "double"),
        ("Impressions", "bigint"),
        ("Clicks", "bigint"),
    ),
    row_checks=(
        RowCheck(
            "non_negative_delivery",
            '"Spend" >= 0 AND "Impressions" >= 0 AND "Clicks" >= 0',
            "Every channel's spend, impressions and clicks are zero or more.",
            on="input",
        ),
        RowCheck(
            "clicks_within_impressions",
            "ad_clicks <= ad_impressions",
            "A day cannot have more ad clicks than ad impressions.",
        ),
    ),
    lineage=(
        ("date", ("Date",)),
        ("ad_spend", ("Date", "Spend")),
        ("ad_impressions", ("Date", "Impressions")),
        ("ad_clicks", ("Date", "Clicks")),
        ("ad_channels", ("Date", "Channel")),
    ),
    engine=Engine.SQL,
)

# The example of one input per engine: sales on Spark (Glue), marketing on EMR Serverless, ad spend
# on SQL (Athena), all behind the same barrier into one joined table. Not the default: the barrier
# waits for every registered input each cycle, so a user without advertising files would never
# get a join. Tests and the docs use it; ``ETL_REGISTRY=three_engines`` selects it.
THREE_ENGINES = Registry(
    inputs=(SALES, replace(MARKETING, engine=Engine.EMR_SERVERLESS), AD_SPEND),
    joined=REGISTRY.joined,
    report=ENGAGEMENT_REVENUE,
)

REGISTRIES = {"quicksight": REGISTRY, "three_engines": THREE_ENGINES}


def registry_named(name: str) -> Registry:
    """The registry ``ETL_REGISTRY`` names."""
    try:
        return REGISTRIES[name]
    except KeyError:
        raise UnknownDatasetError(
            f"ETL_REGISTRY={name!r} is not a registry; choose one of: {', '.join(REGISTRIES)}"
        ) from None
