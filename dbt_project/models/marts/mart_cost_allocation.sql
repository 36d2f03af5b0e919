-- Per UTC month and team (and its cost centre): spend priced as of the time of use, its share of the month's
-- total, and the change against the team's previous month.

with

monthly as (

    select
        date_trunc('month', day)::date as month,
        team,
        max(cost_centre) as cost_centre,
        sum(cost_usd) as spend_usd,
        sum(requests) as requests

    from {{ ref('int_usage_daily') }}
    group by 1, 2

),

final as (

    select
        monthly.month,
        monthly.team,
        monthly.cost_centre,
        monthly.spend_usd,
        monthly.requests,
        monthly.spend_usd / nullif(sum(monthly.spend_usd) over (partition by monthly.month), 0) as share_of_month,
        previous.spend_usd as previous_month_spend_usd,
        monthly.spend_usd - previous.spend_usd as change_usd,
        (monthly.spend_usd - previous.spend_usd) / nullif(previous.spend_usd, 0) as change_share

    from monthly
    -- The calendar month before, not the team's previous month with usage.
    left join monthly as previous
        on previous.team = monthly.team
        and previous.month = (monthly.month - interval '1 month')::date

)

select * from final
