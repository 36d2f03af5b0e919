-- The consensus of the price sources for every (canonical model, provider, component, service tier, unit) they
-- price now (base condition). Rule: the provider's official source first (OpenRouter's own price for an
-- openrouter offering), otherwise the median of the registries' values (the mean of the middle two when there is
-- an even number). The spread is (max - min) / min over every source's value; a unit error is suspected when two
-- sources' values are 500 to 2,000 or 500,000 to 2,000,000 times apart (a per-token price read as per thousand or
-- per million tokens).

with

current_prices as (

    select
        *,
        -- OpenRouter is its own offering's official price list.
        (provider = 'openrouter' and source = 'openrouter') as is_official

    from {{ ref('int_prices_current') }}

),

aggregated as (

    select
        canonical_model_id,
        provider,
        component,
        service_tier,
        unit,
        max(model_family) as model_family,
        max(price_usd) filter (where source = 'genai-prices') as genai_prices_price_usd,
        max(price_usd) filter (where source = 'litellm') as litellm_price_usd,
        max(price_usd) filter (where source = 'openrouter') as openrouter_price_usd,
        max(price_usd) filter (where is_official) as official_price_usd,
        array_agg(price_usd order by price_usd) filter (where not is_official) as registry_prices,
        array_agg(price_usd order by price_usd) as prices,
        count(*) as source_count,
        min(price_usd) as min_price_usd,
        max(price_usd) as max_price_usd,
        array_agg(distinct provider_model_id order by provider_model_id) as provider_model_ids,
        max(first_seen_at) as updated_at

    from current_prices
    group by 1, 2, 3, 4, 5

),

flagged as (

    select
        aggregated.*,
        (
            registry_prices[(cardinality(registry_prices) + 1) / 2]
            + registry_prices[(cardinality(registry_prices) + 2) / 2]
        ) / 2 as registry_median_price_usd,
        (
            select coalesce(bool_or(
                high.price_usd / low.price_usd between 500 and 2000
                or high.price_usd / low.price_usd between 500000 and 2000000
            ), false)
            from unnest(aggregated.prices) with ordinality as low (price_usd, position)
            inner join unnest(aggregated.prices) with ordinality as high (price_usd, position)
                on low.position < high.position
            where low.price_usd > 0
        ) as suspected_unit_error

    from aggregated

),

final as (

    select
        canonical_model_id,
        provider,
        component,
        service_tier,
        unit,
        model_family,
        genai_prices_price_usd,
        litellm_price_usd,
        openrouter_price_usd,
        coalesce(official_price_usd, registry_median_price_usd)::numeric(38, 18) as consensus_price_usd,
        case when official_price_usd is not null then 'official' else 'registry_median' end as consensus_rule,
        source_count,
        min_price_usd,
        max_price_usd,
        case
            when min_price_usd > 0 then round((max_price_usd - min_price_usd) / min_price_usd, 6)
            when max_price_usd = 0 then 0
        end as price_spread,
        -- Spread over the threshold; a zero and a non-zero price (an infinite spread) disagree too.
        (
            max_price_usd > min_price_usd
            and (
                min_price_usd = 0
                or (max_price_usd - min_price_usd) / min_price_usd > {{ var('price_disagreement_threshold') }}
            )
        ) as sources_disagree,
        suspected_unit_error,
        source_count = 1 as single_source,
        provider_model_ids,
        updated_at

    from flagged

)

select * from final
