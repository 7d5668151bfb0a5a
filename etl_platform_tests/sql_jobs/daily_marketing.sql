-- What process_marketing_data.daily_marketing computes, as the SQL engine's dataset text (tests only):
-- every column renamed to snake_case, in date order.
WITH renamed AS (
    SELECT
        "Date" AS "date",
        "New visitors SEO" AS new_visitors_seo,
        "New visitors CPC" AS new_visitors_cpc,
        "New visitors Social Media" AS new_visitors_social_media,
        "Return visitors" AS return_visitors,
        "Twitter mentions" AS twitter_mentions,
        "Twitter follower adds" AS twitter_follower_adds,
        "Twitter followers cumulative" AS twitter_followers_cumulative,
        "Mailing list adds" AS mailing_list_adds,
        "Mailing list cumulative" AS mailing_list_cumulative,
        "Website Pageviews" AS website_pageviews,
        "Website Visits" AS website_visits,
        "Website Unique Visits" AS website_unique_visits,
        "Mobile uniques" AS mobile_uniques,
        "Tablet uniques" AS tablet_uniques,
        "Desktop uniques" AS desktop_uniques,
        "Free sign up" AS free_sign_up,
        "Paid conversion" AS paid_conversion,
        "Events" AS events
    FROM typed_input
)
SELECT * FROM renamed ORDER BY "date"
