-- Mistral's catalog in the shared model vocabulary: one row per model card, alias cards (`-latest`, undated ids)
-- included as Mistral lists them. Capabilities come from the card's flags; the list says nothing about output
-- limits, structured output or batch, so those columns are null.

{#-
    Open weights under Apache 2.0, from Mistral's "Apache 2.0 models" page and its release notes: Mistral 7B, the
    Mixtrals, Codestral Mamba, Mathstral and Nemo (the `open-*` ids), Pixtral 12B, Mistral Small 3/3.1/3.2/4
    (2501, 2503, 2506, 2603; the older 2312/2402 were API-only and 2409 is under the Mistral Research License),
    Ministral 3 (3B/8B/14B 2512; the 2410 Ministrals were not Apache), Mistral Large 3 (2512; Large 2407/2411 and
    Pixtral Large are under the Research License), Magistral Small, Devstral Small and Voxtral Mini/Small 2507.
    The rule is matched on the id and on `name`, which for an alias card (`mistral-small-latest`) is the dated id it
    resolves to. Anything else - premier models, research-licence models, fine-tuned models (their weights stay on
    la Plateforme) - is null: unknown here, not false.
-#}
{%- set apache_2_0_models = '^(open-(mistral|mixtral|codestral)-.+|mathstral.*|pixtral-12b(-.+)?'
    ~ '|mistral-small-(2501|2503|2506|2603)|ministral-(3b|8b|14b)-2512|mistral-large-2512'
    ~ '|magistral-small-.+|devstral-small-.+|voxtral-(mini|small)-2507)$' %}

with

source as (

    select * from {{ source('mistral', 'models') }}

),

renamed as (

    select
        'mistral'::text as provider,
        id::text as provider_model_id,
        coalesce(name, id)::text as display_name,
        (case when type = 'fine-tuned' then coalesce(owned_by, 'mistralai') else 'mistralai' end)::text as creator,
        description::text as description,
        max_context_length::bigint as context_window,
        null::bigint as max_output_tokens,
        (case
            when capabilities is null then null
            else array_remove(array[
                'text',
                case when capability_vision then 'image' end,
                case when capability_audio then 'audio' end,
                -- the OCR endpoint reads documents (PDF, images) as files
                case when capability_ocr then 'file' end
            ], null)
        end)::text[] as input_modalities,
        (case
            when capabilities is null then null
            -- embedding cards carry no capability flag of their own; their ids say what they are
            when id ~ 'embed' then array['embeddings']
            -- classification and moderation return category scores: no modality of this vocabulary
            else nullif(array_remove(array[
                case
                    when capability_completion_chat or capability_completion_fim
                        or capability_ocr or capability_audio_transcription
                        then 'text'
                end,
                case when capability_audio_speech then 'audio' end
            ], null), '{}')
        end)::text[] as output_modalities,
        capability_vision::boolean as supports_vision,
        capability_function_calling::boolean as supports_tools,
        capability_reasoning::boolean as supports_reasoning,
        null::boolean as supports_structured_output,
        null::boolean as supports_batch,
        (case
            when type is distinct from 'fine-tuned'
                and (id ~ '{{ apache_2_0_models }}' or name ~ '{{ apache_2_0_models }}')
                then true
        end)::boolean as open_weights,
        (case
            when type is distinct from 'fine-tuned'
                and (id ~ '{{ apache_2_0_models }}' or name ~ '{{ apache_2_0_models }}')
                then 'apache-2.0'
        end)::text as license,
        -- base cards are stamped with the time of the request, not a release date; a fine-tuned card's is real
        (case when type = 'fine-tuned' then (created_at at time zone 'UTC')::date end)::date as release_date,
        (deprecation at time zone 'UTC')::date as deprecation_date,
        deprecation_replacement_model::text as replacement_model_id,
        region::text as region,
        batch_id::text as batch_id,
        _fetched_at::timestamptz as fetched_at

    from source

)

select * from renamed
