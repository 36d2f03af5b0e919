-- ModelAtlas's provider, canonical model and price region for every (provider, model, service tier, region) the
-- usage records name, resolved as the price sources' names are: the `usage` rules of the price_source_providers seed
-- (google or gemini -> gemini), then the canonical_model_id macro and its overrides seed (gpt-4o-2024-08-06 ->
-- gpt-4o); the price region is the record's region where the offering has prices there, else global. Resolving the
-- distinct combinations once keeps the per-record work to one hash join (on keys that are never null).

-- Statistics at once: fct_usage joins tens of millions of records to this small table, and without them the planner
-- guessed one row and chose nested loops (minutes instead of seconds).
{{ config(post_hook=['analyze {{ this }}']) }}

with

used as (

    select distinct
        coalesce(provider_as_written, '') as provider_key,
        coalesce(model_as_written, '') as model_key,
        service_tier,
        region
    from {{ ref('int_usage_records_unioned') }}

),

pairs as (

    select distinct
        provider_key,
        model_key,
        nullif(provider_key, '') as provider_as_written,
        nullif(model_key, '') as model_as_written
    from used

),

rules as (

    select * from {{ ref('price_source_providers') }}
    where source = 'usage'

),

overrides as (

    select * from {{ ref('canonical_model_overrides') }}

),

providers as (

    select
        pairs.provider_key,
        pairs.model_key,
        pairs.model_as_written,
        coalesce(
            (
                select rules.provider
                from rules
                where lower(trim(pairs.provider_as_written)) ~ rules.source_provider_pattern
                    and (
                        coalesce(rules.provider_model_pattern, '') = ''
                        or lower(pairs.model_as_written) ~ rules.provider_model_pattern
                    )
                order by rules.priority
                limit 1
            ),
            trim(both '_' from regexp_replace(lower(pairs.provider_as_written), '[^a-z0-9]+', '_', 'g'))
        ) as provider

    from pairs

),

models as (

    select
        providers.provider_key,
        providers.model_key,
        providers.provider,
        coalesce(
            overrides.canonical_model_id,
            {{ canonical_model_id('providers.model_as_written') }}
        ) as canonical_model_id

    from providers
    left join overrides
        on overrides.provider = providers.provider
        and overrides.provider_model_id = providers.model_as_written

),

priced_regions as (

    select distinct provider, canonical_model_id, service_tier, region
    from {{ ref('int_usage_price_segments') }}

),

final as (

    select
        used.provider_key,
        used.model_key,
        used.service_tier,
        used.region,
        models.provider,
        models.canonical_model_id,
        case when priced_regions.region is not null then used.region else 'global' end as price_region

    from used
    inner join models
        on models.provider_key = used.provider_key
        and models.model_key = used.model_key
    left join priced_regions
        on priced_regions.provider = models.provider
        and priced_regions.canonical_model_id = models.canonical_model_id
        and priced_regions.service_tier = used.service_tier
        and priced_regions.region = used.region

)

select * from final
