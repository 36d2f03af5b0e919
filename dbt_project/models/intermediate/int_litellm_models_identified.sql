-- LiteLLM's model map with ModelAtlas's provider id (int_price_source_providers) and the cross-source
-- canonical_model_id: the limits, capability flags and deprecation dates it carries feed dim_models and
-- mart_model_comparison.

with

models as (

    select * from {{ ref('stg_litellm__models') }}

),

providers as (

    select * from {{ ref('int_price_source_providers') }}
    where source = 'litellm'

),

overrides as (

    select * from {{ ref('canonical_model_overrides') }}

),

with_provider as (

    select
        models.*,
        providers.provider

    from models
    inner join providers
        on models.source_provider = providers.source_provider
        and models.provider_model_id = providers.provider_model_id

),

final as (

    select
        with_provider.provider,
        with_provider.provider_model_id,
        coalesce(overrides.canonical_model_id, {{ canonical_model_id('with_provider.provider_model_id') }})
            as canonical_model_id,
        with_provider.model_key,
        with_provider.source_provider,
        with_provider.mode,
        with_provider.max_input_tokens,
        with_provider.max_output_tokens,
        with_provider.supports_vision,
        with_provider.supports_tools,
        with_provider.supports_reasoning,
        with_provider.supports_structured_output,
        with_provider.supports_prompt_caching,
        with_provider.supported_regions,
        with_provider.deprecation_date,
        with_provider.fetched_at

    from with_provider
    left join overrides
        on with_provider.provider = overrides.provider
        and with_provider.provider_model_id = overrides.provider_model_id

)

select * from final
