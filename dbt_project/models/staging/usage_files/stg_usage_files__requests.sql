-- Every request of the request-log files, one row per line that parsed, in the shape every usage record shares.
-- A line's input_tokens count every prompt token: the cached ones and the cache writes are billed apart.

with

source as (

    select * from {{ source('usage_files', 'requests') }}

),

renamed as (

    select
        'usage_files'::text as record_source,
        coalesce(nullif(request_id, ''), record_key)::text as record_id,
        'request'::text as record_kind,
        used_at::timestamptz as used_at,
        null::timestamptz as bucket_end,
        provider::text as provider_as_written,
        model::text as model_as_written,
        -- OpenAI's `default` (and `auto`) is the standard tier, as in its usage reports.
        case
            when nullif(lower(service_tier), '') is null or lower(service_tier) in ('default', 'auto') then 'standard'
            else lower(service_tier)
        end::text as service_tier,
        coalesce(nullif(region, ''), 'global')::text as region,
        null::text as context_window,
        api_key_id::text as api_key_id,
        project::text as project_id,
        null::text as workspace_id,
        user_id::text as user_id,
        null::text as litellm_team,
        team::text as file_team,
        1::bigint as requests,
        coalesce(input_tokens, 0)::bigint as prompt_tokens,
        greatest(
            coalesce(input_tokens, 0) - coalesce(cached_input_tokens, 0) - coalesce(cache_write_tokens, 0), 0
        )::bigint as uncached_input_tokens,
        coalesce(cached_input_tokens, 0)::bigint as cache_read_tokens,
        coalesce(cache_write_tokens, 0)::bigint as cache_write_5m_tokens,
        0::bigint as cache_write_1h_tokens,
        coalesce(output_tokens, 0)::bigint as output_tokens,
        reasoning_tokens::bigint as reasoning_tokens,
        null::numeric(38, 18) as provider_reported_cost_usd,
        record_key::text as record_key,
        file_name::text as file_name,
        line_number::bigint as line_number,
        fetched_at::timestamptz as fetched_at

    from source

)

select * from renamed
