-- What process_sales_data.daily_sales computes, as the SQL engine's dataset text (tests only).
SELECT
    "Date" AS "date",
    count(*) AS opportunities,
    CAST(sum("Forecasted Monthly Revenue") AS BIGINT) AS forecasted_monthly_revenue,
    CAST(sum("Weighted Revenue") AS BIGINT) AS weighted_revenue,
    count(CASE WHEN trim("Opportunity Stage") = 'Lead' THEN 1 END) AS leads_generated,
    CAST(coalesce(sum(CASE WHEN trim("Opportunity Stage") = 'Lead' THEN "Forecasted Monthly Revenue" END), 0) AS BIGINT)
        AS forecasted_lead_revenue
FROM typed_input
GROUP BY "Date"
ORDER BY "date"
