-- Every calendar month (UTC) from the earliest one the price history reaches to the current one, with the instant
-- trends price it at: the month's last microsecond, or now for the current month.

with

history as (

    select * from {{ ref('fct_price_history') }}

),

bounds as (

    select
        date_trunc('month', coalesce(min(valid_from), min(first_seen_at)) at time zone 'UTC') as first_month,
        date_trunc('month', current_timestamp at time zone 'UTC') as current_month

    from history

),

months as (

    select generate_series(bounds.first_month, bounds.current_month, interval '1 month') as month_start
    from bounds
    where bounds.first_month is not null

),

final as (

    select
        month_start::date as price_month,
        least(
            (month_start + interval '1 month') at time zone 'UTC' - interval '1 microsecond',
            current_timestamp
        ) as priced_at

    from months

)

select * from final
