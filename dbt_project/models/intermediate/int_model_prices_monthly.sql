-- The input and output price (standard tier, base condition, global region, USD per million tokens) of every
-- (provider, canonical model) at the end of every month it was priced: per source, the history row in effect at
-- that instant (the canonical id itself over dated versions, then the latest recorded); across sources, the median.
-- A table, as mart_price_trends and its tests read it more than once.

{{ config(materialized='table', post_hook='analyze {{ this }}') }}

with

history as (

    select * from {{ ref('fct_price_history') }}
    where service_tier = 'standard'
        and condition = 'base'
        and region = 'global'
        and unit = 'mtok'
        and component in ('input', 'output')

),

months as (

    select * from {{ ref('int_price_months') }}

),

per_source as (

    select distinct on (history.source, history.provider, history.canonical_model_id, history.component, months.price_month)
        history.source,
        history.provider,
        history.canonical_model_id,
        history.model_family,
        history.component,
        months.price_month,
        history.price_usd

    from history
    inner join months
        on coalesce(history.valid_from, '-infinity'::timestamptz) <= months.priced_at
        and (history.valid_to is null or months.priced_at < history.valid_to)
    order by
        history.source, history.provider, history.canonical_model_id, history.component, months.price_month,
        history.is_canonical_alias desc, history.first_seen_at desc, history.provider_model_id desc,
        history.source_model_key

),

per_model as (

    select
        provider,
        canonical_model_id,
        max(model_family) as model_family,
        component,
        price_month,
        array_agg(price_usd order by price_usd) as prices

    from per_source
    group by provider, canonical_model_id, component, price_month

),

medians as (

    select
        provider,
        canonical_model_id,
        model_family,
        component,
        price_month,
        (prices[(cardinality(prices) + 1) / 2] + prices[(cardinality(prices) + 2) / 2]) / 2 as price_usd

    from per_model

),

pivoted as (

    select
        provider,
        canonical_model_id,
        max(model_family) as model_family,
        price_month,
        max(price_usd) filter (where component = 'input')::numeric(38, 18) as input_price_per_mtok,
        max(price_usd) filter (where component = 'output')::numeric(38, 18) as output_price_per_mtok

    from medians
    group by provider, canonical_model_id, price_month

),

final as (

    select
        provider,
        canonical_model_id,
        model_family,
        {{ capability_tier('pivoted.model_family', 'pivoted.canonical_model_id') }} as capability_tier,
        price_month,
        input_price_per_mtok,
        output_price_per_mtok

    from pivoted

)

select * from final
