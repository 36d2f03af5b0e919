-- One row per change of a price series: (source, provider, source model key, component, service tier, condition,
-- region). The series' timeline is resolved from fct_price_history at every interval boundary: the price in effect
-- there is the latest recorded row covering it, so a source's restatement of its past replaces what it said
-- before. A change is a boundary where the price in effect differs from the one before it.
--   A first appearance is not a change (nothing to compare with); a removal is not a change either: it closes
--   the interval in fct_price_history. A price that reappears after a gap at another price is a change.
--   A price that changes back is another change.
--   detected_at: the load that made the change known (the later first sighting of the two rows);
--   changed_at: when the new price took effect (the boundary; a source's effective date when it dates the price).

{{
    config(
        indexes=[
            {'columns': ['detected_at']},
            {'columns': ['canonical_model_id', 'component']},
            {'columns': ['price_change_id'], 'unique': True},
        ],
        post_hook='analyze {{ this }}',
    )
}}

with

history as (

    select * from {{ ref('fct_price_history') }}

),

boundaries as (

    select source, provider, source_model_key, component, service_tier, condition, region,
        coalesce(valid_from, '-infinity'::timestamptz) as boundary_at
    from history
    union
    select source, provider, source_model_key, component, service_tier, condition, region, valid_to
    from history
    where valid_to is not null

),

in_effect as (

    select distinct on (
        boundaries.source, boundaries.provider, boundaries.source_model_key, boundaries.component,
        boundaries.service_tier, boundaries.condition, boundaries.region, boundaries.boundary_at
    )
        boundaries.boundary_at,
        history.*

    from boundaries
    inner join history
        on boundaries.source = history.source
        and boundaries.provider = history.provider
        and boundaries.source_model_key = history.source_model_key
        and boundaries.component = history.component
        and boundaries.service_tier = history.service_tier
        and boundaries.condition = history.condition
        and boundaries.region = history.region
        and coalesce(history.valid_from, '-infinity'::timestamptz) <= boundaries.boundary_at
        and (history.valid_to is null or boundaries.boundary_at < history.valid_to)
    order by
        boundaries.source, boundaries.provider, boundaries.source_model_key, boundaries.component,
        boundaries.service_tier, boundaries.condition, boundaries.region, boundaries.boundary_at,
        history.first_seen_at desc, history.price_history_id

),

with_previous as (

    select
        in_effect.*,
        lag(price_usd) over series as old_price_usd,
        lag(price_history_id) over series as old_price_history_id,
        lag(first_seen_at) over series as old_first_seen_at

    from in_effect
    window series as (
        partition by source, provider, source_model_key, component, service_tier, condition, region
        order by boundary_at
    )

),

final as (

    select
        md5(
            concat_ws(
                '|', source, provider, source_model_key, component, service_tier, condition, region,
                boundary_at::text
            )
        ) as price_change_id,

        -- the series
        source,
        provider,
        source_provider,
        source_model_key,
        provider_model_id,
        canonical_model_id,
        model_family,
        component,
        service_tier,
        condition,
        region,
        unit,

        -- the change
        old_price_usd::numeric(38, 18) as old_price_usd,
        price_usd::numeric(38, 18) as new_price_usd,
        (price_usd - old_price_usd)::numeric(38, 18) as price_change_usd,
        case
            when old_price_usd > 0 then round(100 * (price_usd - old_price_usd) / old_price_usd, 6)
        end::numeric(38, 6) as price_change_pct,
        case when price_usd > old_price_usd then 'increase' else 'decrease' end as change_direction,

        -- when
        boundary_at as changed_at,
        greatest(first_seen_at, old_first_seen_at) as detected_at,
        effective_from,

        -- lineage
        old_price_history_id,
        price_history_id as new_price_history_id

    from with_previous
    where old_price_usd is not null
        and price_usd <> old_price_usd

)

select * from final
