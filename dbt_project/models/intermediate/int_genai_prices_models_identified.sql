-- genai-prices' model list with ModelAtlas's provider id (int_price_source_providers: genai-prices' `google` is
-- gemini for Gemini models, vertex_ai for the partner models it prices) and the cross-source canonical_model_id:
-- the names and context windows it carries fill mart_model_comparison where a provider's catalog says nothing.

with

models as (

    select * from {{ ref('stg_genai_prices__models') }}

),

providers as (

    select * from {{ ref('int_price_source_providers') }}
    where source = 'genai-prices'

),

overrides as (

    select * from {{ ref('canonical_model_overrides') }}

),

with_provider as (

    select
        models.*,
        providers.provider as modelatlas_provider

    from models
    inner join providers
        on models.provider = providers.source_provider
        and models.provider_model_id = providers.provider_model_id

),

final as (

    select
        with_provider.modelatlas_provider as provider,
        with_provider.provider_model_id,
        coalesce(overrides.canonical_model_id, {{ canonical_model_id('with_provider.provider_model_id') }})
            as canonical_model_id,
        with_provider.provider as source_provider,
        with_provider.model_name,
        with_provider.context_window,
        with_provider.is_deprecated,
        with_provider.batch_id,
        with_provider.loaded_at

    from with_provider
    left join overrides
        on with_provider.modelatlas_provider = overrides.provider
        and with_provider.provider_model_id = overrides.provider_model_id

)

select * from final
