"""Every kind of bad landing file ends as one clear message naming the file (and the line where it
can), or as rejected rows that say why; never a traceback or a silent partial table."""

from dataclasses import replace
from unittest.mock import MagicMock

import lake_builds
import lake_job
import pytest
from process_marketing_data import daily_marketing
from process_sales_data import daily_sales

from etl_platform.assets.processed import process_job
from etl_platform.checks.settings import QualitySettings
from etl_platform.contract import landing
from etl_platform.contract.errors import InputError
from etl_platform.contract.report import CheckOutcome, FailureKind, ScriptResult
from etl_platform.datasets import MARKETING, SALES
from etl_platform_tests.helpers import MARKETING_HEADER, SALES_HEADER, marketing_row, sales_row

GOOD_ROWS = [sales_row("1/2/2016", "Lead", "100", "10"), sales_row("1/3/2016", "Prospect", "40", "4")]


def _csv(header=SALES_HEADER, rows=GOOD_ROWS, newline="\n") -> bytes:
    return newline.join(",".join(row) for row in [header, *rows]).encode() + newline.encode()


def _run(tmp_path, content: bytes, *extra: str, max_reject_share: float = 0.0, dataset=SALES, transform=daily_sales):
    """The sales job (or ``dataset``'s) in-process on ``content``: (error message or None, pipes mock, output rows)."""
    source = tmp_path / "in.csv"
    source.write_bytes(content)
    out = tmp_path / "out"
    job = process_job(replace(dataset, max_reject_share=max_reject_share), str(source), str(out), QualitySettings())
    argv = [*(part for name, value in job.arguments().items() for part in (f"--{name}", value)), *extra]
    pipes = MagicMock()
    try:
        lake_builds.process_landing_file(lake_job.Reporter(pipes), argv, transform)
    except InputError as error:
        return str(error), pipes, None
    import pyarrow.parquet as pq

    return None, pipes, sorted(pq.read_table(out).to_pylist(), key=lambda r: r["date"])


def _checks(pipes) -> dict[str, CheckOutcome]:
    """The checks the script reported, by name."""
    result = ScriptResult.from_messages(call.args[0] for call in pipes.report_custom_message.call_args_list)
    return {outcome.name: outcome for outcome in result.checks}


# Bytes that are UTF-8 but no text: once read as a one-column header without data rows.
BINARY_13_BYTES = bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 17])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "in.csv: the file is empty (0 bytes)"),
        (_csv(rows=[]), "in.csv: the file has a header but no data rows"),
        (
            BINARY_13_BYTES,
            "in.csv: the file is not text (line 1, byte 1 is the control character 0x00): expected a CSV",
        ),
        (_csv().replace(b",", b";"), "in.csv: line 1 is one column containing ';': the file seems delimited by ';'"),
        (_csv().replace(b",", b"\t"), "in.csv: line 1 is one column containing '\\t'"),
        (_csv().decode().encode("utf-16"), "in.csv: the file is UTF-16 encoded; save it as UTF-8"),
        (
            _csv().replace(b"Avery Quinn", "Zoë Quinn".encode("latin-1"), 1),
            "in.csv: line 2, byte 12: byte 0xEB is not UTF-8",
        ),
        (
            _csv(header=[h if h != "Weighted Revenue" else "Weighted Rev" for h in SALES_HEADER]),
            "in.csv: the header lacks expected columns ['Weighted Revenue']; it has [",
        ),
        (_csv(header=[*SALES_HEADER[:-1], "date"]), "in.csv: line 1: columns 1 and 12 are both named 'date'"),
        (
            _csv(rows=[sales_row("1/2/2016", "Lead", "100")[:7] + ['"Lead', 'x"'] + ["1", "FALSE", "TRUE"]]).replace(
                b'"Lead,x"', b'"Lead\nx"'
            ),
            "record(s) continue on a new line inside a quoted value",
        ),
    ],
)
def test_bad_files_fail_with_one_clear_line(spark, tmp_path, content, message) -> None:
    error, _, _ = _run(tmp_path, content)
    assert error is not None and message in error, error
    assert "\n" not in error.strip() and str(tmp_path / "in.csv") in error


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (_csv().replace(b"Avery Quinn", "Zoë Quinn".encode("latin-1"), 1), 2),
        (_csv().replace(b",", b";"), 1),
        (_csv(header=[*SALES_HEADER[:-1], "date"]), 1),
        (b"", None),
    ],
    ids=["not_utf8_on_line_2", "other_delimiter", "duplicate_column", "empty_file"],
)
def test_the_failure_record_names_the_line_at_fault(tmp_path, content, line) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(content)
    with pytest.raises(InputError) as raised:
        landing.read_header(landing.read_head(str(source)), str(source))
    failure = lake_job.failure_of(raised.value, storage=None)
    assert (failure.kind, failure.line) == (FailureKind.DATA, line)


def test_a_file_name_spark_cannot_parse_is_the_inputs_fault_not_a_retry(spark, tmp_path) -> None:
    """Spark's own failure on a ':' in a name (a file that skipped the contract's check of names)."""
    source = tmp_path / "week:1.csv"
    source.write_bytes(_csv())
    with pytest.raises(Exception) as raised:
        spark.read.option("header", "true").csv(str(source)).count()
    failure = lake_job.failure_of(raised.value, lake_job.storage_trouble(raised.value))
    assert failure.kind is FailureKind.DATA
    assert failure.message.startswith("Spark cannot open the input by its name: Relative path in absolute URI: ")


def test_bom_and_crlf_read_like_a_plain_file(spark, tmp_path) -> None:
    _, _, plain = _run(tmp_path / "a", _csv()) if (tmp_path / "a").mkdir() is None else None
    for variant in (b"\xef\xbb\xbf" + _csv(), _csv(newline="\r\n"), b"\xef\xbb\xbf" + _csv(newline="\r\n")):
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        error, pipes, rows = _run(folder, variant)
        assert error is None and rows == plain
        assert _checks(pipes)["raw_schema"].passed and _checks(pipes)["parse_rejects"].metadata["rejected_rows"] == 0


def test_quoted_commas_are_values_and_multiline_reads_quoted_line_breaks(spark, tmp_path) -> None:
    row = sales_row("1/2/2016", "Lead", "100")
    row[1] = '"Quinn, Avery"'
    row[2] = '"Acme\nCorp"'
    (tmp_path / "a").mkdir()
    error, pipes, rows = _run(tmp_path / "a", _csv(rows=[row]), "--multiline", "true")
    assert error is None and [(r["opportunities"], r["forecasted_lead_revenue"]) for r in rows] == [(1, 100)]


def test_extra_columns_are_reported_and_do_not_change_the_table(spark, tmp_path) -> None:
    (tmp_path / "a").mkdir()
    _, _, plain = _run(tmp_path / "a", _csv())
    wider = _csv(header=[*SALES_HEADER, "Notes"], rows=[[*r, "n/a"] for r in GOOD_ROWS])
    error, pipes, rows = _run(tmp_path, wider)
    assert error is None and rows == plain
    assert _checks(pipes)["raw_schema"].metadata["unexpected_columns"] == ["Notes"]
    assert any("kept as strings: ['Notes']" in c.args[0] for c in pipes.log.info.call_args_list)


def _rejects(pipes) -> tuple[CheckOutcome, dict]:
    """The parse_rejects outcome and its metadata."""
    parse = _checks(pipes)["parse_rejects"]
    return parse, dict(parse.metadata)


def test_bad_values_are_rejected_with_lines_and_reasons_and_block_unless_tolerated(spark, tmp_path) -> None:
    rows = [
        *GOOD_ROWS,
        sales_row("2/30/2016", "Lead", "5"),
        sales_row("1/4/2016", "Lead", "12abc"),
        [*sales_row("1/5/2016", "Lead", "5"), "stray"],
    ]
    latin = sales_row("1/6/2016", "Lead", "5")
    latin[1] = "Zoë"
    # Each repeated chunk is a blank line (an empty header) and a good row: 4,000 lines, 2,000 rows.
    content = (
        _csv(rows=rows)
        + b"".join([_csv(header=[], rows=[GOOD_ROWS[1]])] * 2000)
        + ",".join(latin).encode("latin-1")
        + b"\n"
    )
    for tolerance, blocking in ((0.0, True), (0.01, False)):  # 4 of 2,006 rows: within 1%
        (tmp_path / str(tolerance)).mkdir()
        error, pipes, out = _run(
            tmp_path / str(tolerance), content, max_reject_share=tolerance
        )  # the Latin-1 row lies beyond the vetted head
        assert error is None
        parse, metadata = _rejects(pipes)
        assert (parse.passed, parse.blocking, metadata["rejected_rows"]) == (False, blocking, 4)
        assert [(example["_line"], example["_reason"]) for example in metadata["examples"]] == [
            (4, "Date: '2/30/2016' is not a date; Target Close: '2/30/2016' is not a date"),
            (5, "Forecasted Monthly Revenue: '12abc' is not a bigint"),
            (6, "not 12 fields like the header"),
            (4007, "bytes that are not UTF-8"),
        ]
        assert [r["date"].isoformat() for r in out] == ["2016-01-02", "2016-01-03"]
    warned = [c.args[0] for c in pipes.log.warning.call_args_list if "rejected 4 of 2006 rows" in c.args[0]]
    assert warned and warned[0].endswith("line 6 (not 12 fields like the header), line 4007 (bytes that are not UTF-8)")

    (tmp_path / "few").mkdir()
    error, pipes, _ = _run(
        tmp_path / "few", _csv(rows=rows), max_reject_share=0.01
    )  # 3 of 5 rows rejected: far over 1%
    parse, _ = _rejects(pipes)
    assert error is None and parse.passed is False and parse.blocking is True


def test_a_file_sorted_as_it_was_typed_has_its_figures_counted_once(spark, tmp_path) -> None:
    """The marketing table is its typed rows sorted: on Spark 3.5 (Glue 5) a global sort reads its
    input once more to sample it, which counted the file's observed figures twice."""
    rows = [marketing_row(f"1/{day}/2016", day) for day in range(1, 6)] + [marketing_row("1/6/2016", 6)[:-3]]
    error, pipes, out = _run(tmp_path, _csv(MARKETING_HEADER, rows), dataset=MARKETING, transform=daily_marketing)
    _, metadata = _rejects(pipes)
    assert error is None and len(out) == 5
    assert (metadata["input_rows"], metadata["rejected_rows"]) == (6, 1)


@pytest.mark.parametrize(
    ("bad", "lines", "reason"),
    [
        (lambda day: sales_row(day, "Lead", "12k"), [3, 5, 7], "Forecasted Monthly Revenue: '12k' is not a bigint"),
        (
            lambda day: sales_row("2/30/2016", "Lead", "5"),
            [4, 6],
            "Date: '2/30/2016' is not a date; Target Close: '2/30/2016' is not a date",
        ),
    ],
)
def test_a_few_bad_rows_among_good_ones_refuse_the_file_by_default(spark, tmp_path, bad, lines, reason) -> None:
    rows = [sales_row(f"1/{day}/2016", "Lead", "100", "10") for day in range(1, 30)]
    for line in lines:
        rows[line - 2] = bad(f"1/{line - 1}/2016")  # line 1 is the header
    error, pipes, out = _run(tmp_path, _csv(rows=rows))
    assert error is None and len(out) == 29 - len(lines)  # written to its version, which the platform will not publish
    parse, metadata = _rejects(pipes)
    assert (parse.passed, parse.blocking) == (False, True)
    assert (metadata["input_rows"], metadata["rejected_rows"], metadata["max_share"]) == (29, len(lines), 0.0)
    assert [(example["_line"], example["_reason"]) for example in metadata["examples"]] == [
        (line, reason) for line in lines
    ]


def test_rejected_rows_after_a_value_spanning_lines_get_their_own_line(spark, tmp_path) -> None:
    spanning = sales_row("1/2/2016", "Lead", "100")
    spanning[2] = '"Acme\nCorp"'
    content = _csv(rows=[spanning, sales_row("1/3/2016", "Lead", "12k"), GOOD_ROWS[1]])
    error, pipes, _ = _run(tmp_path, content, "--multiline", "true")
    assert error is None
    assert [example["_line"] for example in _rejects(pipes)[1]["examples"]] == [4]
