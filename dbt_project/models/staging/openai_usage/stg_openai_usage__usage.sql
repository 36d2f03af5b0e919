-- OpenAI's hourly usage buckets (every endpoint read), one row per bucket and grouping, in the shape every usage
-- record shares. OpenAI's input_tokens include the cached ones: the uncached part is what is billed as input.

with

source as (

    select * from {{ source('openai_usage', 'usage_buckets') }}

),

renamed as (

    select
        'openai_usage'::text as record_source,
        bucket_key::text as record_id,
        'bucket'::text as record_kind,
        bucket_start::timestamptz as used_at,
        bucket_end::timestamptz as bucket_end,
        'openai'::text as provider_as_written,
        model::text as model_as_written,
        case
            when batch then 'batch'
            when service_tier is null or service_tier in ('default', 'auto', 'standard') then 'standard'
            else service_tier
        end::text as service_tier,
        'global'::text as region,
        null::text as context_window,
        api_key_id::text as api_key_id,
        project_id::text as project_id,
        null::text as workspace_id,
        user_id::text as user_id,
        null::text as litellm_team,
        null::text as file_team,
        coalesce(num_model_requests, 0)::bigint as requests,
        coalesce(input_tokens, 0)::bigint as prompt_tokens,
        greatest(coalesce(input_tokens, 0) - coalesce(input_cached_tokens, 0), 0)::bigint as uncached_input_tokens,
        coalesce(input_cached_tokens, 0)::bigint as cache_read_tokens,
        0::bigint as cache_write_5m_tokens,
        0::bigint as cache_write_1h_tokens,
        coalesce(output_tokens, 0)::bigint as output_tokens,
        null::bigint as reasoning_tokens,
        null::numeric(38, 18) as provider_reported_cost_usd,
        fetched_at::timestamptz as fetched_at

    from source
    -- Images, speech and transcription buckets count images, characters and seconds, which no token price covers.
    where endpoint in ('completions', 'embeddings')

)

select * from renamed
