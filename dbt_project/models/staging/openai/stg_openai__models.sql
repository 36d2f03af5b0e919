-- OpenAI's catalog in the shared model vocabulary. The list endpoint says nothing about limits or capabilities,
-- so those columns are null here; the price registries and OpenRouter fill them in mart_model_comparison.

with

source as (

    select * from {{ source('openai', 'models') }}

),

renamed as (

    select
        'openai'::text as provider,
        id::text as provider_model_id,
        id::text as display_name,
        'openai'::text as creator,
        null::text as description,
        null::bigint as context_window,
        null::bigint as max_output_tokens,
        null::text[] as input_modalities,
        null::text[] as output_modalities,
        null::boolean as supports_vision,
        null::boolean as supports_tools,
        null::boolean as supports_reasoning,
        null::boolean as supports_structured_output,
        null::boolean as supports_batch,
        false as open_weights,
        null::text as license,
        (created_at at time zone 'UTC')::date as release_date,
        shutdown_date::date as deprecation_date,
        null::text as replacement_model_id,
        region::text as region,
        batch_id::text as batch_id,
        _fetched_at as fetched_at

    from source

)

select * from renamed
