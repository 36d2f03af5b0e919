-- Each source's current base price of every (canonical model, provider, component, service tier, unit): the
-- history rows in effect now, one per source. When a source prices one canonical model under several ids (gpt-4o
-- and gpt-4o-2024-05-13), the id that is the canonical id itself wins, then a global price over a regional one,
-- then the latest recorded, then the latest dated id.

with

history as (

    select * from {{ ref('fct_price_history') }}
    where is_current
        and condition = 'base'

),

ranked as (

    select
        history.*,
        row_number() over (
            partition by source, canonical_model_id, provider, component, service_tier, unit
            order by is_canonical_alias desc, (region = 'global') desc, first_seen_at desc, provider_model_id desc,
                source_model_key
        ) as source_rank

    from history

),

final as (

    select
        source,
        canonical_model_id,
        provider,
        component,
        service_tier,
        unit,
        model_family,
        provider_model_id,
        source_model_key,
        region,
        price_usd,
        first_seen_at,
        last_seen_at

    from ranked
    where source_rank = 1

)

select * from final
