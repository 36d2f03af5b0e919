-- Per UTC month and team (and its cost centre): spend priced as of the time of use, its share of the month's
-- total, and the change against the team's previous month.

with

monthly as (

    select
        date_trunc('month', used_at at time zone 'UTC')::date as month,
        coalesce(team, 'unattributed') as team,
        max(cost_centre) as cost_centre,
        sum(cost_usd) as spend_usd,
        sum(requests) as requests

    from {{ ref('fct_usage') }}
    group by 1, 2

),

final as (

    select
        month,
        team,
        cost_centre,
        spend_usd,
        requests,
        spend_usd / nullif(sum(spend_usd) over (partition by month), 0) as share_of_month,
        lag(spend_usd) over (partition by team order by month) as previous_month_spend_usd,
        spend_usd - lag(spend_usd) over (partition by team order by month) as change_usd,
        (spend_usd - lag(spend_usd) over (partition by team order by month))
            / nullif(lag(spend_usd) over (partition by team order by month), 0) as change_share

    from monthly

)

select * from final
