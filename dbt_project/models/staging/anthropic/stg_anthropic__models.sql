-- Anthropic's catalog in the shared model vocabulary. /v1/models states limits and a capability tree per model,
-- flattened into supports_* columns by the dlt source; what it does not state (description, license) is null.

with

source as (

    select * from {{ source('anthropic', 'models') }}

),

renamed as (

    select
        'anthropic'::text as provider,
        id::text as provider_model_id,
        coalesce(display_name, id)::text as display_name,
        'anthropic'::text as creator,
        null::text as description,
        max_input_tokens::bigint as context_window,
        max_tokens::bigint as max_output_tokens,
        -- Every Claude model reads text; images and PDFs (the shared vocabulary's `file`) when the tree says so.
        array_remove(
            array[
                'text',
                case when supports_image_input then 'image' end,
                case when supports_pdf_input then 'file' end
            ],
            null
        )::text[] as input_modalities,
        -- The Messages API answers in text only, for every model.
        array['text']::text[] as output_modalities,
        supports_image_input::boolean as supports_vision,
        -- The tree has no tool-use flag: the Messages API takes `tools` on every model from the Claude 3 family on
        -- (released 2024-02-29 and later), so those are true rather than null. Older models (Claude 1.x, 2.x,
        -- Instant) never had tool use but Anthropic does not say so either: null, as is an unknown release date.
        case
            when (created_at at time zone 'UTC')::date >= date '2024-02-29' then true
        end::boolean as supports_tools,
        supports_thinking::boolean as supports_reasoning,
        supports_structured_outputs::boolean as supports_structured_output,
        supports_batch::boolean as supports_batch,
        false as open_weights,
        null::text as license,
        -- Anthropic sets `created_at` to the epoch when it does not know the release date: that is null here.
        case
            when created_at > timestamptz '1970-01-01 00:00:00+00' then (created_at at time zone 'UTC')::date
        end as release_date,
        -- Newer API versions add `deprecated_at` (RFC 3339) to deprecated models; read it from the payload when present.
        case
            when payload ->> 'deprecated_at' ~ '^\d{4}-\d{2}-\d{2}' then left(payload ->> 'deprecated_at', 10)::date
        end as deprecation_date,
        null::text as replacement_model_id,
        region::text as region,
        batch_id::text as batch_id,
        _fetched_at as fetched_at

    from source

)

select * from renamed
