"""Typing a landing file: the registry's columns matched to the header and parsed into their
types, each row that does not parse rejected with its reason, and the pass's counts observed."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

from lake_checks import failing, observed
from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F

from etl_platform.contract.checks import RowCheck
from etl_platform.contract.columns import SPARK_TYPES, ExpectedColumn, quote_identifier
from etl_platform.contract.landing import CORRUPT_RECORD, match_columns

# A row's place in the file while rejected rows are picked as examples (an internal column).
POSITION = "__position"


def parse_value(raw_name: str, type_: str, date_format: str) -> Column:
    """Parse one raw string column; NULL where it is empty or does not parse.

    ``try_cast`` / ``try_to_timestamp`` return NULL whatever ``spark.sql.ansi.enabled`` says (it is
    on by default in Spark 4, off in 3.5), so bad values are counted instead of failing the job.
    """
    text = F.trim(F.col(quote_identifier(raw_name)))
    if type_ == "string":
        return F.when(text != "", F.col(quote_identifier(raw_name)))
    if type_ == "date":
        return F.to_date(F.try_to_timestamp(text, F.lit(date_format)))
    if type_ == "boolean":
        upper = F.upper(text)
        return F.when(upper == "TRUE", F.lit(True)).when(upper == "FALSE", F.lit(False))
    return F.expr(f"try_cast(trim({quote_identifier(raw_name)}) AS {SPARK_TYPES[type_]})")


def _not_utf8(text: Column) -> Column:
    """Bytes that were not UTF-8 (read as U+FFFD); False, not NULL, for a missing value."""
    return F.coalesce(text.contains("\ufffd"), F.lit(False))


def _empty(raw_name: str) -> Column:
    return F.coalesce(F.trim(F.col(quote_identifier(raw_name))), F.lit("")) == ""


@dataclass
class TypedInput:
    """A landing file with the registry's types applied, what parsing rejected, and pass statistics."""

    frame: DataFrame
    rejected: DataFrame  # in file order: ``_reason``, then the raw columns
    raw_columns: list[str]
    unexpected_columns: list[str]
    typed_columns: list[str]
    rules: list[RowCheck]
    stats: Observation
    flagged: DataFrame
    metrics: list[Column]
    _values: dict[str, Any] | None = None

    def _stat(self, name: str) -> int:
        """Observed during the pass that wrote ``frame``. When no row reached the output Spark may
        prune the observed node and report nothing; then the counts take a pass of their own."""
        if self._values is None:
            self._values = observed(self.stats) or self.flagged.agg(*self.metrics).first().asDict()  # type: ignore[union-attr]
        return int(self._values.get(name) or 0)

    def counts(self) -> dict[str, int]:
        return {name: self._stat(name) for name in ("input_rows", "rejected_rows", "broken_records")}

    def suspect_rows(self) -> int:
        """Rows the reader's own typing cannot judge (``apply_native_types``); 0 when typed value by value."""
        return self._stat("suspect_rows")

    def per_column(self, kind: str) -> dict[str, int]:
        return {name: self._stat(f"{kind}_{i}") for i, name in enumerate(self.typed_columns)}

    def rule_failures(self) -> dict[str, int]:
        return {rule.name: self._stat(f"rule_{i}") for i, rule in enumerate(self.rules)}


def _problems(
    raw: DataFrame,
    names: dict[str, str],
    kinds: dict[str, str],
    unparsed: dict[str, Column],
    required: Sequence[str],
) -> list[tuple[Column, Column]]:
    """Why a row is rejected, as (condition, reason) pairs: a value that does not parse, a required
    value missing, bytes that are not UTF-8, a field count unlike the header's."""
    data_columns = [name for name in raw.columns if name != CORRUPT_RECORD]
    problems = [
        (
            bad,
            F.concat(
                F.lit(f"{names[name].strip()}: '"),
                F.col(quote_identifier(names[name])),
                F.lit(f"' is not a {kinds[name]}"),
            ),
        )
        for name, bad in unparsed.items()
    ]
    problems += [(_empty(names[name]), F.lit(f"{names[name].strip()} is empty")) for name in required]
    # Each field searched on its own: gluing the row's fields into one string first costs every
    # row an allocation (15% of typing a large file) for the same answer.
    not_utf8 = [_not_utf8(F.col(quote_identifier(name))) for name in data_columns]
    problems.append((reduce(operator.or_, not_utf8, F.lit(False)), F.lit("bytes that are not UTF-8")))
    if CORRUPT_RECORD in raw.columns:
        problems.append((F.col(CORRUPT_RECORD).isNotNull(), F.lit(f"not {len(data_columns)} fields like the header")))
    return problems


def _broken(raw: DataFrame) -> Column:
    """A record with an odd number of quotes: the rest of a quoted value cut by a line break."""
    if CORRUPT_RECORD not in raw.columns:
        return F.lit(False)
    return F.col(CORRUPT_RECORD).isNotNull() & (F.size(F.split(F.col(CORRUPT_RECORD), '"')) % 2 == 0)


def _metrics(typed_columns: int, rules: Sequence[RowCheck]) -> list[Column]:
    """What the pass counts, over the flagged rows: rows, rejects, broken records, per typed column
    the values that do not parse and those not empty, per input rule the kept rows breaking it."""
    return [
        F.count(F.lit(1)).alias("input_rows"),
        F.sum("_rejected").alias("rejected_rows"),
        F.sum("_broken").alias("broken_records"),
        *[F.sum(f"_unparsed_{i}").alias(f"unparsed_{i}") for i in range(typed_columns)],
        *[F.sum(f"_nonempty_{i}").alias(f"nonempty_{i}") for i in range(typed_columns)],
        *[
            F.count(F.when((F.col("_rejected") == 0) & failing(rule), 1)).alias(f"rule_{i}")
            for i, rule in enumerate(rules)
        ],
    ]


def apply_types(
    raw: DataFrame,
    expected: Sequence[ExpectedColumn],
    date_format: str,
    required: Sequence[str],
    source: str,
    rules: Sequence[RowCheck] = (),
) -> TypedInput:
    """Typed columns named as the registry declares them; extra columns kept as strings.

    A row is rejected when a non-empty value does not parse (``abc`` as an amount, ``2/30/2016`` as
    a date), a ``required`` column is empty, its field count differs from the header's, or it holds
    bytes that are not UTF-8; each rejected row says why (``_reason``). Counts (rows, rejects,
    unparsed values per column, rows breaking each input ``rules`` check, records broken across
    lines) are observed during the pass that writes the output.
    """
    data_columns = [name for name in raw.columns if name != CORRUPT_RECORD]
    names = match_columns(data_columns, expected, source)
    typed = {c.name: parse_value(names[c.name], c.type, date_format) for c in expected}
    unparsed = {c.name: ~_empty(names[c.name]) & typed[c.name].isNull() for c in expected if c.type != "string"}
    problems = _problems(raw, names, {c.name: c.type for c in expected}, unparsed, required)
    is_rejected = F.greatest(*[bad.cast("int") for bad, _ in problems], F.lit(0))
    unexpected = [name for name in data_columns if name not in names.values()]
    flagged = raw.select(
        *[value.alias(name) for name, value in typed.items()],
        *[F.col(quote_identifier(name)).alias(name.strip()) for name in unexpected],
        is_rejected.alias("_rejected"),
        _broken(raw).cast("int").alias("_broken"),
        *[u.cast("int").alias(f"_unparsed_{i}") for i, u in enumerate(unparsed.values())],
        *[(~_empty(names[name])).cast("int").alias(f"_nonempty_{i}") for i, name in enumerate(unparsed)],
    )
    metrics = _metrics(len(unparsed), rules)
    stats = Observation("parse")
    helper_columns = [c for c in flagged.columns if c.startswith("_")]
    reason = F.concat_ws("; ", *[F.when(bad, text) for bad, text in problems])
    return TypedInput(
        frame=flagged.observe(stats, *metrics).where(F.col("_rejected") == 0).drop(*helper_columns),
        # Spark numbers rows by partition, then by their order in it; a file's partitions are its
        # consecutive splits, so the number grows with the place in the file.
        rejected=raw.withColumn(POSITION, F.monotonically_increasing_id())
        .where(is_rejected == 1)
        .orderBy(POSITION)
        .select(reason.alias("_reason"), *[F.col(quote_identifier(n)) for n in raw.columns]),
        raw_columns=data_columns,
        unexpected_columns=[name.strip() for name in unexpected],
        typed_columns=list(unparsed),
        rules=list(rules),
        stats=stats,
        flagged=flagged,
        metrics=metrics,
    )


def native_types(header: Sequence[str], expected: Sequence[ExpectedColumn], source: str) -> dict[str, str]:
    """The registry's types by header name, for the CSV reader to type the file itself."""
    names = match_columns(list(header), expected, source)
    return {names[column.name]: column.type for column in expected}


def apply_native_types(
    raw: DataFrame,
    expected: Sequence[ExpectedColumn],
    required: Sequence[str],
    source: str,
    rules: Sequence[RowCheck] = (),
) -> TypedInput:
    """The fast way to the typed input: ``raw`` was typed by the CSV reader (``native_types``), which
    costs a fraction of ``apply_types``'s expressions per value on a large file.

    It gives the same table and counts as ``apply_types`` on a file where every value is plainly
    typed. A row it cannot judge the same way (a value the reader could not type, which ``apply_types``
    may still accept once trimmed; a field count unlike the header's; a blank required value;
    bytes that are not UTF-8) is counted as suspect, not rejected: with any, the caller reads the
    file again through ``apply_types``, whose reasons and counts are the reference.
    """
    data_columns = [name for name in raw.columns if name != CORRUPT_RECORD]
    names = match_columns(data_columns, expected, source)
    column = {c.name: F.col(quote_identifier(names[c.name])) for c in expected}
    # Strings as value-by-value typing gives them (blank: NULL); the rest as the reader typed them.
    typed = {c.name: parse_value(names[c.name], c.type, "") if c.type == "string" else column[c.name] for c in expected}
    unexpected = [name for name in data_columns if name not in names.values()]
    texts = [column[c.name] for c in expected if c.type == "string"] + [F.col(quote_identifier(n)) for n in unexpected]
    suspect = [
        *([F.col(CORRUPT_RECORD).isNotNull()] if CORRUPT_RECORD in raw.columns else []),
        *[typed[name].isNull() for name in required],
        *[_not_utf8(text) for text in texts],
    ]
    non_string = [c.name for c in expected if c.type != "string"]
    flagged = raw.select(
        *[value.alias(name) for name, value in typed.items()],
        *[F.col(quote_identifier(name)).alias(name.strip()) for name in unexpected],
        F.lit(0).alias("_rejected"),
        F.lit(0).alias("_broken"),
        *[F.lit(0).alias(f"_unparsed_{i}") for i in range(len(non_string))],
        *[column[name].isNotNull().cast("int").alias(f"_nonempty_{i}") for i, name in enumerate(non_string)],
        reduce(operator.or_, suspect, F.lit(False)).cast("int").alias("_suspect"),
    )
    metrics = [*_metrics(len(non_string), rules), F.sum("_suspect").alias("suspect_rows")]
    stats = Observation("parse")
    return TypedInput(
        frame=flagged.observe(stats, *metrics).drop(*[c for c in flagged.columns if c.startswith("_")]),
        rejected=raw.where(F.lit(False)).select(
            F.lit("").alias("_reason"), *[F.col(quote_identifier(n)) for n in raw.columns]
        ),
        raw_columns=data_columns,
        unexpected_columns=[name.strip() for name in unexpected],
        typed_columns=non_string,
        rules=list(rules),
        stats=stats,
        flagged=flagged,
        metrics=metrics,
    )
