-- LiteLLM's model map, one row per map key: limits, capability flags and lifecycle data (deprecation dates feed
-- dim_models). The `supports` object holds every `supports_*` flag LiteLLM sets; the ones ModelAtlas compares are
-- typed here.

with

source as (

    select * from {{ source('litellm', 'models') }}

),

renamed as (

    select
        -- ids
        model_key::text as model_key,
        litellm_provider::text as source_provider,
        provider_model_id::text as provider_model_id,
        mode::text as mode,

        -- limits
        max_input_tokens::bigint as max_input_tokens,
        coalesce(max_output_tokens, max_tokens)::bigint as max_output_tokens,

        -- capabilities
        (supports ->> 'supports_vision')::boolean as supports_vision,
        (supports ->> 'supports_function_calling')::boolean as supports_tools,
        (supports ->> 'supports_reasoning')::boolean as supports_reasoning,
        (supports ->> 'supports_response_schema')::boolean as supports_structured_output,
        (supports ->> 'supports_prompt_caching')::boolean as supports_prompt_caching,
        supports,
        case
            when jsonb_typeof(supported_regions) = 'array'
                then array(select jsonb_array_elements_text(supported_regions))
        end::text[] as supported_regions,

        -- lifecycle
        deprecation_date::date as deprecation_date,

        -- the whole entry
        payload,

        -- load
        batch_id::text as batch_id,
        _fetched_at::timestamptz as fetched_at

    from source

)

select * from renamed
