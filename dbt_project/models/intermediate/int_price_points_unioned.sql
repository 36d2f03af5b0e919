-- Every recorded price-point version of every price source, with ModelAtlas's provider id (int_price_source_providers:
-- by the source's provider id and the model id), the model's cross-source canonical_model_id (the
-- canonical_model_overrides seed, else the canonical_model_id macro, on provider_model_id) and its family (the
-- model_families seed).

with

{% set price_sources = var('price_sources') %}
{% for price_source in price_sources %}
{{ price_source }}_points as (

    select * from {{ ref('stg_' ~ price_source ~ '__price_points') }}

),

{% endfor %}
unioned as (

    {% for price_source in price_sources %}
    select * from {{ price_source }}_points
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

providers as (

    select * from {{ ref('int_price_source_providers') }}

),

overrides as (

    select * from {{ ref('canonical_model_overrides') }}

),

families as (

    select * from {{ ref('model_families') }}

),

with_provider as (

    select
        unioned.*,
        providers.provider

    from unioned
    inner join providers
        on unioned.source = providers.source
        and unioned.source_provider = providers.source_provider
        and unioned.provider_model_id = providers.provider_model_id

),

-- Every model the providers map names (a superset of those priced; the inner join below keeps the priced ones):
-- read from the table, not from with_provider, whose three-column join PostgreSQL estimates at one row.
models as (

    select distinct provider, provider_model_id from providers

),

identified as (

    select
        models.provider,
        models.provider_model_id,
        coalesce(overrides.canonical_model_id, {{ canonical_model_id('models.provider_model_id') }})
            as canonical_model_id

    from models
    left join overrides
        on models.provider = overrides.provider
        and models.provider_model_id = overrides.provider_model_id

),

-- Materialized: the family's pattern match runs once per model, not once per price point.
with_family as materialized (

    select
        identified.*,
        (
            select families.model_family
            from families
            where identified.canonical_model_id ~ families.pattern
            order by families.priority
            limit 1
        ) as model_family

    from identified

),

final as (

    select
        with_provider.source,
        with_provider.source_provider,
        with_provider.provider,
        with_provider.source_model_key,
        with_provider.provider_model_id,
        with_family.canonical_model_id,
        with_family.model_family,
        -- The id is the canonical id itself (gpt-4o, openai/gpt-4o), not a dated or aliased version of it.
        replace(regexp_replace(lower(with_provider.provider_model_id), '^.*/', ''), '.', '-')
            = with_family.canonical_model_id as is_canonical_alias,
        with_provider.component,
        with_provider.service_tier,
        with_provider.condition,
        with_provider.above_input_tokens,
        with_provider.window_start_utc,
        with_provider.window_end_utc,
        with_provider.region,
        with_provider.unit,
        with_provider.price_usd,
        with_provider.original_value,
        with_provider.original_unit,
        with_provider.effective_from,
        with_provider.effective_until,
        with_provider.price_hash,
        with_provider.recorded_from,
        with_provider.recorded_to,
        with_provider.load_id,
        with_provider.price_point_id

    from with_provider
    inner join with_family
        on with_provider.provider = with_family.provider
        and with_provider.provider_model_id = with_family.provider_model_id

)

select * from final
