-- Per canonical model, provider and component (base condition, standard tier): every source's current price, the
-- consensus and how much the sources disagree. Rule and flags: int_price_consensus and mart_price_consensus.yml.

{{
    config(
        indexes=[
            {'columns': ['canonical_model_id', 'provider', 'component', 'unit'], 'unique': True},
            {'columns': ['provider']},
        ],
    )
}}

with

consensus as (

    select * from {{ ref('int_price_consensus') }}
    where service_tier = 'standard'

),

final as (

    select
        canonical_model_id,
        provider,
        component,
        unit,
        model_family,
        genai_prices_price_usd::numeric(38, 18) as genai_prices_price_usd,
        litellm_price_usd::numeric(38, 18) as litellm_price_usd,
        openrouter_price_usd::numeric(38, 18) as openrouter_price_usd,
        consensus_price_usd::numeric(38, 18) as consensus_price_usd,
        consensus_rule,
        source_count,
        min_price_usd::numeric(38, 18) as min_price_usd,
        max_price_usd::numeric(38, 18) as max_price_usd,
        price_spread::numeric(38, 6) as price_spread,
        sources_disagree,
        suspected_unit_error,
        single_source,
        provider_model_ids,
        updated_at

    from consensus

)

select * from final
