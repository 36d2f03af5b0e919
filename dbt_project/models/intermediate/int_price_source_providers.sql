-- ModelAtlas's provider id for every model a price source names (in its price points, LiteLLM's model map and
-- genai-prices' model list): the first row, by priority, of the price_source_providers seed for that source whose
-- source_provider_pattern matches the source's provider id and whose provider_model_pattern (empty: any model)
-- matches the model id. The model matters where one source provider stands for several providers: genai-prices'
-- `google` prices the Gemini API's own models (gemini) and the partner models Vertex AI serves (vertex_ai).
-- An id no row matches is kept, cleaned to lower-case words joined by `_` (`huggingface_fireworks-ai` ->
-- `huggingface_fireworks_ai`).

with

{% set price_sources = var('price_sources') %}
{% for price_source in price_sources %}
{{ price_source }}_points as (

    select distinct source, source_provider, provider_model_id
    from {{ ref('stg_' ~ price_source ~ '__price_points') }}

),

{% endfor %}
litellm_models as (

    select distinct 'litellm'::text as source, source_provider, provider_model_id
    from {{ ref('stg_litellm__models') }}

),

genai_prices_models as (

    select distinct 'genai-prices'::text as source, provider as source_provider, provider_model_id
    from {{ ref('stg_genai_prices__models') }}

),

rules as (

    select * from {{ ref('price_source_providers') }}

),

source_models as (

    {% for price_source in price_sources %}
    select source, source_provider, provider_model_id from {{ price_source }}_points
    union
    {% endfor %}
    select source, source_provider, provider_model_id from litellm_models
    union
    select source, source_provider, provider_model_id from genai_prices_models

),

final as (

    select
        source_models.source,
        source_models.source_provider,
        source_models.provider_model_id,
        coalesce(
            (
                select rules.provider
                from rules
                where rules.source = source_models.source
                    and source_models.source_provider ~ rules.source_provider_pattern
                    and (
                        coalesce(rules.provider_model_pattern, '') = ''
                        or source_models.provider_model_id ~ rules.provider_model_pattern
                    )
                order by rules.priority
                limit 1
            ),
            trim(both '_' from regexp_replace(lower(source_models.source_provider), '[^a-z0-9]+', '_', 'g'))
        ) as provider

    from source_models

)

select * from final
