-- Per UTC day, team, provider and model: requests, tokens and cost priced as of the time of use.

with

usage as (

    select * from {{ ref('fct_usage') }}

),

final as (

    select
        (used_at at time zone 'UTC')::date as day,
        coalesce(team, 'unattributed') as team,
        provider,
        canonical_model_id,
        sum(requests) as requests,
        sum(prompt_tokens) as prompt_tokens,
        sum(cache_read_tokens) as cache_read_tokens,
        sum(output_tokens) as output_tokens,
        sum(cost_usd) as cost_usd,
        count(*) filter (where pricing_status = 'priced_before_history') as records_priced_before_history,
        count(*) filter (where pricing_status in ('unpriced_model', 'partial')) as records_not_fully_priced,
        count(*) as records

    from usage
    group by 1, 2, 3, 4

)

select * from final
