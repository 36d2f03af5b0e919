-- The Hub's open-weight models in the shared model vocabulary. The listing says nothing about context windows,
-- output limits or tool use, so those are null; every listed repository publishes its weights.
--
-- Modalities come from the Hub task (`pipeline_tag`):
--   text-generation                            -> input {text},       output {text}
--   image-text-to-text                         -> input {text,image}, output {text}   (and supports_vision)
--   feature-extraction, sentence-similarity    -> input {text},       output {embeddings}
--   automatic-speech-recognition               -> input {audio},      output {text}
--   text-to-image                              -> input {text},       output {image}
--   any other task or none                     -> null, null
--
-- `createdAt` 2022-03-02T23:29:04Z is the Hub's placeholder for repositories older than its creation dates, so
-- it gives no release date.

with

source as (

    select * from {{ source('huggingface', 'models') }}

),

renamed as (

    select
        'huggingface'::text as provider,
        id::text as provider_model_id,
        regexp_replace(id, '^[^/]*/', '')::text as display_name,
        coalesce(author, split_part(id, '/', 1))::text as creator,
        null::text as description,
        null::bigint as context_window,
        null::bigint as max_output_tokens,
        (case pipeline_tag
            when 'text-generation' then array['text']
            when 'image-text-to-text' then array['text', 'image']
            when 'feature-extraction' then array['text']
            when 'sentence-similarity' then array['text']
            when 'automatic-speech-recognition' then array['audio']
            when 'text-to-image' then array['text']
        end)::text[] as input_modalities,
        (case pipeline_tag
            when 'text-generation' then array['text']
            when 'image-text-to-text' then array['text']
            when 'feature-extraction' then array['embeddings']
            when 'sentence-similarity' then array['embeddings']
            when 'automatic-speech-recognition' then array['text']
            when 'text-to-image' then array['image']
        end)::text[] as output_modalities,
        (case when pipeline_tag = 'image-text-to-text' then true end)::boolean as supports_vision,
        null::boolean as supports_tools,
        null::boolean as supports_reasoning,
        null::boolean as supports_structured_output,
        null::boolean as supports_batch,
        true as open_weights,
        license::text as license,
        (case
            when created_at = '2022-03-02 23:29:04+00'::timestamptz then null
            else (created_at at time zone 'UTC')::date
        end)::date as release_date,
        null::date as deprecation_date,
        null::text as replacement_model_id,
        region::text as region,
        batch_id::text as batch_id,
        _fetched_at::timestamptz as fetched_at

    from source

)

select * from renamed
