-- Per team with a monthly budget and per UTC month: the budget, spend to date, a forecast to the month's end and
-- the status: `exceeded` at 100% of the budget, `warning` at `budget_warning_share` (default 80%), else `ok`;
-- `forecast_exceeds` when the forecast crosses the budget before the month ends. The current month is forecast
-- from today (`usage_as_of`, a date, replaces today, for replays and tests); a past month's forecast is its spend.
--
-- Forecasts: `linear` carries the month's spend so far at its daily rate to the month's end; once the team has
-- four weeks of history before the month's remaining days, `seasonal_weekly` adds, for each remaining day, the
-- mean spend of that weekday over the last four weeks (weekday profiles: weekends spend differently).
-- Per-key limits: the same for each API key with a monthly spend limit (team = the key's team).

{%- set warning_share = var('budget_warning_share', 0.8) %}
{%- set as_of = usage_as_of() %}

with

daily as (

    select
        team,
        api_key_id,
        day,
        sum(cost_usd) as spend_usd,
        sum(requests) as requests

    from {{ ref('int_usage_daily') }}
    where day <= {{ as_of }}
    group by 1, 2, 3

),

budgets as (

    select
        'team'::text as scope,
        team as subject,
        team,
        monthly_budget_usd as budget_usd,
        null::bigint as request_limit
    from {{ ref('stg_teams__teams') }}
    where monthly_budget_usd is not null

    union all

    select 'api_key', api_key_id, team, monthly_spend_limit_usd, monthly_request_limit
    from {{ ref('stg_teams__key_limits') }}

),

subject_days as (

    select budgets.scope, budgets.subject, daily.day, sum(daily.spend_usd) as spend_usd, sum(daily.requests) as requests
    from budgets
    inner join daily
        on (budgets.scope = 'team' and daily.team = budgets.subject)
        or (budgets.scope = 'api_key' and daily.api_key_id = budgets.subject)
    group by 1, 2, 3

),

months as (

    select distinct scope, subject, date_trunc('month', day)::date as month
    from subject_days
    union
    select scope, subject, date_trunc('month', {{ as_of }})::date
    from budgets

),

month_spend as (

    select
        months.scope,
        months.subject,
        months.month,
        least({{ as_of }}, (months.month + interval '1 month - 1 day')::date) as through_day,
        (months.month + interval '1 month - 1 day')::date as month_end,
        coalesce(sum(subject_days.spend_usd), 0) as spend_to_date_usd,
        coalesce(sum(subject_days.requests), 0) as requests_to_date

    from months
    left join subject_days
        on subject_days.scope = months.scope
        and subject_days.subject = months.subject
        and date_trunc('month', subject_days.day)::date = months.month
    group by 1, 2, 3

),

first_days as (

    select scope, subject, min(day) as first_day
    from subject_days
    group by 1, 2

),

weekday_profile as (

    -- Mean spend per weekday over the four weeks before each month's last observed day.
    select
        month_spend.scope,
        month_spend.subject,
        month_spend.month,
        extract(isodow from days.day) as weekday,
        avg(coalesce(subject_days.spend_usd, 0)) as mean_spend_usd,
        min(first_days.first_day) as first_day

    from month_spend
    cross join lateral generate_series(
        month_spend.through_day - 27, month_spend.through_day, interval '1 day'
    ) as days (day)
    left join subject_days
        on subject_days.scope = month_spend.scope
        and subject_days.subject = month_spend.subject
        and subject_days.day = days.day::date
    inner join first_days
        on first_days.scope = month_spend.scope
        and first_days.subject = month_spend.subject
    group by 1, 2, 3, 4

),

seasonal as (

    select
        month_spend.scope,
        month_spend.subject,
        month_spend.month,
        sum(weekday_profile.mean_spend_usd) as remaining_forecast_usd,
        bool_and(weekday_profile.first_day <= month_spend.through_day - 27) as has_four_weeks

    from month_spend
    cross join lateral generate_series(
        month_spend.through_day + 1, month_spend.month_end, interval '1 day'
    ) as remaining (day)
    inner join weekday_profile
        on weekday_profile.scope = month_spend.scope
        and weekday_profile.subject = month_spend.subject
        and weekday_profile.month = month_spend.month
        and weekday_profile.weekday = extract(isodow from remaining.day)
    group by 1, 2, 3

),

forecasts as (

    select
        month_spend.*,
        (month_spend.through_day - month_spend.month + 1) as days_elapsed,
        (month_spend.month_end - month_spend.month + 1) as days_in_month,
        month_spend.spend_to_date_usd / (month_spend.through_day - month_spend.month + 1)
            * (month_spend.month_end - month_spend.month + 1) as linear_forecast_usd,
        case
            when month_spend.through_day = month_spend.month_end then null
            when seasonal.has_four_weeks then month_spend.spend_to_date_usd + seasonal.remaining_forecast_usd
        end as seasonal_forecast_usd,
        month_spend.requests_to_date::numeric / (month_spend.through_day - month_spend.month + 1)
            * (month_spend.month_end - month_spend.month + 1) as linear_forecast_requests

    from month_spend
    left join seasonal
        on seasonal.scope = month_spend.scope
        and seasonal.subject = month_spend.subject
        and seasonal.month = month_spend.month

),

final as (

    select
        forecasts.scope,
        forecasts.subject,
        budgets.team,
        forecasts.month,
        forecasts.through_day,
        budgets.budget_usd,
        budgets.request_limit,
        forecasts.spend_to_date_usd,
        forecasts.requests_to_date,
        forecasts.spend_to_date_usd / nullif(budgets.budget_usd, 0) as budget_used_share,
        forecasts.linear_forecast_usd,
        forecasts.seasonal_forecast_usd,
        -- A month that is over is its spend.
        coalesce(forecasts.seasonal_forecast_usd, forecasts.linear_forecast_usd) as forecast_usd,
        case
            when forecasts.through_day = forecasts.month_end then 'actual'
            when forecasts.seasonal_forecast_usd is not null then 'seasonal_weekly'
            else 'linear'
        end as forecast_method,
        case
            when forecasts.spend_to_date_usd >= budgets.budget_usd
                or forecasts.requests_to_date >= budgets.request_limit then 'exceeded'
            when forecasts.spend_to_date_usd >= {{ warning_share }} * budgets.budget_usd
                or forecasts.requests_to_date >= {{ warning_share }} * budgets.request_limit then 'warning'
            else 'ok'
        end as status,
        coalesce(
            coalesce(forecasts.seasonal_forecast_usd, forecasts.linear_forecast_usd) > budgets.budget_usd
            or forecasts.linear_forecast_requests > budgets.request_limit,
            false
        ) as forecast_exceeds

    from forecasts
    inner join budgets
        on budgets.scope = forecasts.scope
        and budgets.subject = forecasts.subject

)

select * from final
