-- ModelAtlas's provider id for every provider id a price source uses: the first matching pattern of the
-- price_source_providers seed for that source; an id no pattern matches is kept, cleaned to lower-case words
-- joined by `_` (`huggingface_fireworks-ai` -> `huggingface_fireworks_ai`).

with

{% set price_sources = var('price_sources') %}
{% for price_source in price_sources %}
{{ price_source }}_points as (

    select distinct source, source_provider from {{ ref('stg_' ~ price_source ~ '__price_points') }}

),

{% endfor %}
litellm_models as (

    select distinct 'litellm'::text as source, source_provider from {{ ref('stg_litellm__models') }}

),

rules as (

    select * from {{ ref('price_source_providers') }}

),

source_providers as (

    {% for price_source in price_sources %}
    select source, source_provider from {{ price_source }}_points
    union
    {% endfor %}
    select source, source_provider from litellm_models

),

final as (

    select
        source_providers.source,
        source_providers.source_provider,
        coalesce(
            (
                select rules.provider
                from rules
                where rules.source = source_providers.source
                    and source_providers.source_provider ~ rules.source_provider_pattern
                order by rules.priority
                limit 1
            ),
            trim(both '_' from regexp_replace(lower(source_providers.source_provider), '[^a-z0-9]+', '_', 'g'))
        ) as provider

    from source_providers

)

select * from final
