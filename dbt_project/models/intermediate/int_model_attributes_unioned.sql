-- What every source states about a model's attributes, stacked in one shape so that mart_model_comparison takes
-- each attribute from the first source that states it. One row per source row, in the order of preference:
--   1 catalog       dim_models: the provider's own catalog, for its offering
--   2 genai-prices  int_genai_prices_models_identified: the registry's model list, for the same offering
--   3 litellm       int_litellm_models_identified: LiteLLM's model map, for the same offering
--   4 openrouter    dim_models' OpenRouter rows: OpenRouter's listing of the model, for every provider's offering
--                   of it (provider is null)
-- source_rank orders one source's rows of an offering as mart_model_comparison picks its representative id: the
-- available ids first (catalogs), then the id that is the canonical id itself, then the newest. A column a source
-- does not know is null in its rows.

with

catalog as (

    select
        *,
        replace(regexp_replace(lower(provider_model_id), '^.*/', ''), '.', '-') = canonical_model_id
            as is_canonical_alias

    from {{ ref('dim_models') }}

),

genai_prices_models as (

    select
        *,
        replace(regexp_replace(lower(provider_model_id), '^.*/', ''), '.', '-') = canonical_model_id
            as is_canonical_alias

    from {{ ref('int_genai_prices_models_identified') }}

),

litellm_models as (

    select
        *,
        replace(regexp_replace(lower(provider_model_id), '^.*/', ''), '.', '-') = canonical_model_id
            as is_canonical_alias

    from {{ ref('int_litellm_models_identified') }}

),

catalog_attributes as (

    select
        provider,
        canonical_model_id,
        'catalog'::text as attribute_source,
        1 as source_preference,
        row_number() over (
            partition by provider, canonical_model_id
            order by is_available desc, is_canonical_alias desc, last_seen_at desc, provider_model_id desc
        ) as source_rank,
        provider_model_id,
        display_name,
        creator,
        context_window,
        max_output_tokens,
        input_modalities,
        output_modalities,
        supports_vision,
        supports_tools,
        supports_reasoning,
        supports_structured_output,
        open_weights

    from catalog

),

genai_prices_attributes as (

    select
        provider,
        canonical_model_id,
        'genai-prices'::text as attribute_source,
        2 as source_preference,
        row_number() over (
            partition by provider, canonical_model_id
            order by is_canonical_alias desc, loaded_at desc, provider_model_id desc
        ) as source_rank,
        provider_model_id,
        model_name as display_name,
        null::text as creator,
        context_window::bigint as context_window,
        null::bigint as max_output_tokens,
        null::text[] as input_modalities,
        null::text[] as output_modalities,
        null::boolean as supports_vision,
        null::boolean as supports_tools,
        null::boolean as supports_reasoning,
        null::boolean as supports_structured_output,
        null::boolean as open_weights

    from genai_prices_models

),

litellm_attributes as (

    select
        provider,
        canonical_model_id,
        'litellm'::text as attribute_source,
        3 as source_preference,
        row_number() over (
            partition by provider, canonical_model_id
            -- Two LiteLLM keys can name one offering (gemini-2.5-flash, vertex_ai/gemini-2.5-flash): the key decides.
            order by is_canonical_alias desc, fetched_at desc, provider_model_id desc, model_key
        ) as source_rank,
        provider_model_id,
        null::text as display_name,
        null::text as creator,
        max_input_tokens as context_window,
        max_output_tokens,
        null::text[] as input_modalities,
        null::text[] as output_modalities,
        supports_vision,
        supports_tools,
        supports_reasoning,
        supports_structured_output,
        null::boolean as open_weights

    from litellm_models

),

openrouter_attributes as (

    select
        null::text as provider,
        canonical_model_id,
        'openrouter'::text as attribute_source,
        4 as source_preference,
        row_number() over (
            partition by canonical_model_id
            order by is_available desc, is_canonical_alias desc, last_seen_at desc, provider_model_id desc
        ) as source_rank,
        provider_model_id,
        -- `Anthropic: Claude Sonnet 4.5` names the model as `Claude Sonnet 4.5` at any provider.
        nullif(regexp_replace(display_name, '^[^:]*:\s*', ''), '') as display_name,
        creator,
        context_window,
        max_output_tokens,
        input_modalities,
        output_modalities,
        supports_vision,
        supports_tools,
        supports_reasoning,
        supports_structured_output,
        open_weights

    from catalog
    where provider = 'openrouter'

),

unioned as (

    select * from catalog_attributes
    union all
    select * from genai_prices_attributes
    union all
    select * from litellm_attributes
    union all
    select * from openrouter_attributes

)

select * from unioned
