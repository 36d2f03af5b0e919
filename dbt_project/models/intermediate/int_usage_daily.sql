-- Usage per UTC day, team (and its cost centre), API key, provider and model: requests, tokens and as-of cost,
-- aggregated from fct_usage once for the marts that report by day or month (mart_usage_daily, mart_cost_allocation,
-- mart_budget_status), so each reads a few hundred thousand rows instead of every usage record.

with

usage as (

    select * from {{ ref('fct_usage') }}

),

final as (

    select
        (used_at at time zone 'UTC')::date as day,
        coalesce(team, 'unattributed') as team,
        cost_centre,
        api_key_id,
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
    -- fct_usage keeps extended statistics on these expressions (usage_group_statistics): keep them in step.
    group by 1, 2, 3, 4, 5, 6

)

select * from final
