-- Fingerprints of what prices and attributes the usage records of each record key (provider and model as written,
-- service tier, region). The pricing fingerprint covers the provider, canonical model and price region the key
-- resolves to and every price segment of that offering; the teams fingerprint covers who belongs to which team and
-- each team's cost centre. fct_usage keeps the fingerprints each record was built with, so an incremental build
-- prices again exactly the records whose inputs changed (a backdated price, a first price for an unpriced model, a
-- new name mapping, an edited teams file) and leaves every other past cost as it was.

{%- set offering = ['provider', 'canonical_model_id', 'service_tier', 'region'] %}

-- Statistics at once: fct_usage joins tens of millions of records to this small table.
{{ config(post_hook=['analyze {{ this }}']) }}

with

models as (

    select * from {{ ref('int_usage_models_resolved') }}

),

segments as (

    select * from {{ ref('int_usage_price_segments') }}

),

members as (

    select * from {{ ref('stg_teams__members') }}

),

teams as (

    select * from {{ ref('stg_teams__teams') }}

),

offering_prices as (

    select
        {{ offering | join(', ') }},
        string_agg(segments::text, '|' order by segment_starts_at, tier_from) as prices

    from segments
    group by {{ offering | join(', ') }}

),

teams_fingerprint as (

    select hashtextextended(
        concat(
            (select string_agg(members::text, '|' order by kind, value, applies_from) from members),
            '/',
            (select string_agg(row(team, cost_centre)::text, '|' order by team) from teams)
        ),
        0
    ) as teams_fingerprint

),

final as (

    select
        models.provider_key,
        models.model_key,
        models.service_tier,
        models.region,
        -- A row's text tells a null from an empty value.
        hashtextextended(
            row(models.provider, models.canonical_model_id, models.price_region, offering_prices.prices)::text, 0
        ) as pricing_fingerprint,
        teams_fingerprint.teams_fingerprint

    from models
    left join offering_prices
        on offering_prices.provider = models.provider
        and offering_prices.canonical_model_id = models.canonical_model_id
        and offering_prices.service_tier = models.service_tier
        and offering_prices.region = models.price_region
    cross join teams_fingerprint

)

select * from final
