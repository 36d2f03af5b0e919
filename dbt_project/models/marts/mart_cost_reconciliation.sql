-- Per provider, UTC day and model: ModelAtlas's as-of cost of the provider's own usage reports against what the
-- provider billed (its cost report), the difference and its share of the bill, flagged above the threshold
-- (`cost_reconciliation_threshold`, default 2%). Only the providers' usage APIs are compared: request logs are
-- not what a provider bills.

{%- set threshold = var('cost_reconciliation_threshold', 0.02) %}

with

estimated as (

    select
        provider,
        (used_at at time zone 'UTC')::date as day,
        canonical_model_id,
        sum(cost_usd) as estimated_cost_usd,
        count(*) filter (where pricing_status in ('unpriced_model', 'partial')) as records_not_fully_priced

    from {{ ref('fct_usage') }}
    where source in ('openai_usage', 'anthropic_usage')
    group by 1, 2, 3

),

billed_rows as (

    select provider, day, model_as_written, amount_usd from {{ ref('stg_openai_usage__costs') }}
    union all
    select provider, day, model_as_written, amount_usd from {{ ref('stg_anthropic_usage__costs') }}

),

billed as (

    select
        billed_rows.provider,
        billed_rows.day,
        -- A line item without a model (a tool, a fee) is reconciled as its own row.
        coalesce({{ canonical_model_id('billed_rows.model_as_written') }}, '(no model)') as canonical_model_id,
        sum(billed_rows.amount_usd) as billed_cost_usd

    from billed_rows
    group by 1, 2, 3

),

joined as (

    select
        coalesce(estimated.provider, billed.provider) as provider,
        coalesce(estimated.day, billed.day) as day,
        coalesce(estimated.canonical_model_id, billed.canonical_model_id) as canonical_model_id,
        estimated.estimated_cost_usd,
        billed.billed_cost_usd,
        coalesce(estimated.records_not_fully_priced, 0) as records_not_fully_priced

    from estimated
    full outer join billed
        on billed.provider = estimated.provider
        and billed.day = estimated.day
        and billed.canonical_model_id = estimated.canonical_model_id

),

final as (

    select
        *,
        coalesce(estimated_cost_usd, 0) - coalesce(billed_cost_usd, 0) as difference_usd,
        (coalesce(estimated_cost_usd, 0) - coalesce(billed_cost_usd, 0)) / nullif(billed_cost_usd, 0)
            as difference_share,
        abs(coalesce(estimated_cost_usd, 0) - coalesce(billed_cost_usd, 0))
            > {{ threshold }} * coalesce(abs(billed_cost_usd), 0) as exceeds_threshold

    from joined

)

select * from final
