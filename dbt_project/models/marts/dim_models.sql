-- One row per (provider, provider_model_id) ever seen in a provider's catalog. A model that leaves its provider's
-- catalog keeps its row with is_available = false. Incremental so first_seen_at survives: raw catalogs keep only
-- the latest fetch of each model, so the first sighting is known only to this table (a full refresh resets it to
-- the latest fetch). A deprecation date the provider's catalog does not state is taken from LiteLLM's model map when
-- it states one for the same (provider, provider_model_id).

{{
    config(
        materialized='incremental',
        unique_key=['provider', 'provider_model_id'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}

with

models as (

    select * from {{ ref('int_models_identified') }}

),

litellm_lifecycle as (

    select provider, provider_model_id, min(deprecation_date) as deprecation_date
    from {{ ref('int_litellm_models_identified') }}
    where deprecation_date is not null
    group by provider, provider_model_id

),

{% if is_incremental() %}
previous as (

    select provider, provider_model_id, first_seen_at from {{ this }}

),
{% endif %}

final as (

    select
        models.provider,
        models.provider_model_id,
        models.canonical_model_id,
        models.model_family,
        models.display_name,
        models.creator,
        models.description,
        models.context_window,
        models.max_output_tokens,
        models.input_modalities,
        models.output_modalities,
        models.supports_vision,
        models.supports_tools,
        models.supports_reasoning,
        models.supports_structured_output,
        models.supports_batch,
        models.open_weights,
        models.license,
        models.release_date,
        coalesce(models.deprecation_date, litellm_lifecycle.deprecation_date) as deprecation_date,
        models.replacement_model_id,
        models.region,
        {% if is_incremental() %}
        coalesce(least(previous.first_seen_at, models.fetched_at), models.fetched_at) as first_seen_at,
        {% else %}
        models.fetched_at as first_seen_at,
        {% endif %}
        models.fetched_at as last_seen_at,
        models.is_in_latest_batch as is_available

    from models
    left join litellm_lifecycle
        on models.provider = litellm_lifecycle.provider
        and models.provider_model_id = litellm_lifecycle.provider_model_id
    {% if is_incremental() %}
    left join previous
        on models.provider = previous.provider
        and models.provider_model_id = previous.provider_model_id
    {% endif %}

)

select * from final
