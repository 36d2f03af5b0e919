-- OpenRouter's catalog in the shared model vocabulary. Capabilities come from the request parameters a model
-- accepts; open weights from a Hugging Face repository being named. The typed columns are dlt's; the arrays are
-- jsonb, turned into text[] here.

with

source as (

    select * from {{ source('openrouter', 'models') }}

),

renamed as (

    select
        'openrouter'::text as provider,
        id::text as provider_model_id,
        name::text as display_name,
        nullif(ltrim(split_part(id, '/', 1), '~'), '')::text as creator,
        description::text as description,
        context_length::bigint as context_window,
        max_completion_tokens::bigint as max_output_tokens,
        case
            when jsonb_typeof(input_modalities) = 'array'
                then array(select jsonb_array_elements_text(input_modalities))
        end::text[] as input_modalities,
        case
            when jsonb_typeof(output_modalities) = 'array'
                then array(select jsonb_array_elements_text(output_modalities))
        end::text[] as output_modalities,
        (input_modalities @> '["image"]'::jsonb)::boolean as supports_vision,
        (supported_parameters @> '["tools"]'::jsonb)::boolean as supports_tools,
        (
            supported_parameters @> '["reasoning"]'::jsonb
            or supported_parameters @> '["include_reasoning"]'::jsonb
        )::boolean as supports_reasoning,
        (
            supported_parameters @> '["structured_outputs"]'::jsonb
            or supported_parameters @> '["response_format"]'::jsonb
        )::boolean as supports_structured_output,
        null::boolean as supports_batch,
        (nullif(trim(hugging_face_id), '') is not null)::boolean as open_weights,
        null::text as license,
        (created_at at time zone 'UTC')::date as release_date,
        expiration_date::date as deprecation_date,
        null::text as replacement_model_id,
        region::text as region,
        batch_id::text as batch_id,
        _fetched_at::timestamptz as fetched_at

    from source

)

select * from renamed
