-- Advertising spend export (one row per day and channel) -> ad_spend_daily (one row per date).
--
-- One SQL text for DuckDB (local) and Athena (AWS). `typed_input` holds the landing file's
-- accepted rows, typed by the registry's columns ("Date" a DATE, "Spend" a DOUBLE...); rows that
-- do not parse were rejected before, with their line and reason. Sums are cast back to BIGINT:
-- DuckDB widens a BIGINT sum to HUGEINT, which Parquet readers do not all know.
SELECT
    "Date" AS "date",
    ROUND(SUM("Spend"), 2) AS ad_spend,
    CAST(SUM("Impressions") AS BIGINT) AS ad_impressions,
    CAST(SUM("Clicks") AS BIGINT) AS ad_clicks,
    COUNT(DISTINCT "Channel") AS ad_channels
FROM typed_input
GROUP BY "Date"
ORDER BY "date"
