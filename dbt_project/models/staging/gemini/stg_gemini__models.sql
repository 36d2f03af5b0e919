-- Gemini's catalog in the shared model vocabulary. models.list gives token limits, the API methods each model
-- supports and whether it thinks; it says nothing about input modalities, tools, structured output or dates, so
-- those columns are null here.

with

source as (

    select * from {{ source('gemini', 'models') }}

),

renamed as (

    select
        'gemini'::text as provider,
        id::text as provider_model_id,
        coalesce(display_name, id)::text as display_name,
        'google'::text as creator,
        description::text as description,
        input_token_limit::bigint as context_window,
        output_token_limit::bigint as max_output_tokens,
        null::text[] as input_modalities,
        -- Output modalities from supportedGenerationMethods, refined by the id where the methods cannot tell:
        --   embedContent without generateContent       -> embeddings (gemini-embedding-*, text-embedding-004)
        --   predict on imagen-*                        -> image
        --   predictLongRunning (or predict) on veo-*   -> video
        --   generateContent / bidiGenerateContent / generateAnswer -> text, except
        --     *-tts*, lyria-* (speech, music) and *native-audio* (Live API voice) -> audio
        --     *-image*, nano-banana-*                  -> text and image
        -- Anything else (an unknown method set) is null rather than a guess.
        (
            case
                when supported_generation_methods is null then null
                when
                    (supported_generation_methods ? 'embedContent' or supported_generation_methods ? 'embedText')
                    and not supported_generation_methods ? 'generateContent'
                    then array['embeddings']
                when id like 'imagen-%' and supported_generation_methods ? 'predict' then array['image']
                when
                    id like 'veo-%'
                    and (supported_generation_methods ? 'predictLongRunning' or supported_generation_methods ? 'predict')
                    then array['video']
                when
                    supported_generation_methods ? 'generateContent'
                    or supported_generation_methods ? 'bidiGenerateContent'
                    or supported_generation_methods ? 'generateAnswer'
                    then case
                        when id ~ '-tts(-|$)' or id like 'lyria-%' or id like '%native-audio%' then array['audio']
                        when id ~ '-image(-|$)' or id like 'nano-banana%' then array['text', 'image']
                        else array['text']
                    end
            end
        )::text[] as output_modalities,
        null::boolean as supports_vision,
        null::boolean as supports_tools,
        -- proto3 JSON leaves false booleans out, so a model without `thinking` does not think.
        coalesce(thinking, false) as supports_reasoning,
        null::boolean as supports_structured_output,
        -- The Batch API: batchGenerateContent for generation, asyncBatchEmbedContent for embeddings.
        (
            supported_generation_methods ? 'batchGenerateContent'
            or supported_generation_methods ? 'asyncBatchEmbedContent'
        ) as supports_batch,
        id like 'gemma-%' as open_weights,
        -- Gemma 1 to 3 ship under the Gemma Terms of Use; Gemma 4 (April 2026) under Apache 2.0.
        case
            when id like 'gemma-4%' then 'apache-2.0'
            when id like 'gemma-%' then 'gemma'
        end::text as license,
        null::date as release_date,
        null::date as deprecation_date,
        null::text as replacement_model_id,
        region::text as region,
        batch_id::text as batch_id,
        _fetched_at as fetched_at

    from source

)

select * from renamed
