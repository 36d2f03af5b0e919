-- Per UTC day, team, provider and model: requests, tokens and cost priced as of the time of use.

with

daily as (

    select * from {{ ref('int_usage_daily') }}

),

final as (

    select
        day,
        team,
        provider,
        canonical_model_id,
        sum(requests) as requests,
        sum(prompt_tokens) as prompt_tokens,
        sum(cache_read_tokens) as cache_read_tokens,
        sum(output_tokens) as output_tokens,
        sum(cost_usd) as cost_usd,
        sum(records_priced_before_history) as records_priced_before_history,
        sum(records_not_fully_priced) as records_not_fully_priced,
        sum(records) as records

    from daily
    group by 1, 2, 3, 4

)

select * from final
