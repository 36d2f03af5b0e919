-- ModelAtlas's provider and canonical model for every (provider, model) pair usage records name, resolved as the
-- price sources' names are: the `usage` rules of the price_source_providers seed (google or gemini -> gemini),
-- then the canonical_model_id macro and its overrides seed (gpt-4o-2024-08-06 -> gpt-4o). Resolving the distinct
-- pairs once keeps the per-record work to one join.

with

pairs as (

    select distinct provider_as_written, model_as_written
    from {{ ref('int_usage_records_unioned') }}

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
        pairs.provider_as_written,
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

final as (

    select
        providers.provider_as_written,
        providers.model_as_written,
        providers.provider,
        coalesce(
            overrides.canonical_model_id,
            {{ canonical_model_id('providers.model_as_written') }}
        ) as canonical_model_id

    from providers
    left join overrides
        on overrides.provider = providers.provider
        and overrides.provider_model_id = providers.model_as_written

)

select * from final
