-- Anthropic's hourly messages usage (legacy usage report or analytics API), one row per bucket and grouping, in
-- the shape every usage record shares. Anthropic reports the uncached input, cache writes and cache reads apart.

with

read_last as (

    {{ anthropic_rows_read_last(source('anthropic_usage', 'usage_buckets')) }}

),

renamed as (

    select
        'anthropic_usage'::text as record_source,
        bucket_key::text as record_id,
        'bucket'::text as record_kind,
        bucket_start::timestamptz as used_at,
        bucket_end::timestamptz as bucket_end,
        'anthropic'::text as provider_as_written,
        model::text as model_as_written,
        coalesce(nullif(service_tier, ''), 'standard')::text as service_tier,
        'global'::text as region,
        context_window::text as context_window,
        api_key_id::text as api_key_id,
        null::text as project_id,
        workspace_id::text as workspace_id,
        null::text as user_id,
        null::text as litellm_team,
        null::text as file_team,
        -- The report counts tokens, not requests.
        null::bigint as requests,
        (
            coalesce(uncached_input_tokens, 0) + coalesce(cache_read_input_tokens, 0)
            + coalesce(cache_creation_5m_tokens, 0) + coalesce(cache_creation_1h_tokens, 0)
        )::bigint as prompt_tokens,
        coalesce(uncached_input_tokens, 0)::bigint as uncached_input_tokens,
        coalesce(cache_read_input_tokens, 0)::bigint as cache_read_tokens,
        coalesce(cache_creation_5m_tokens, 0)::bigint as cache_write_5m_tokens,
        coalesce(cache_creation_1h_tokens, 0)::bigint as cache_write_1h_tokens,
        coalesce(output_tokens, 0)::bigint as output_tokens,
        null::bigint as reasoning_tokens,
        null::numeric(38, 18) as provider_reported_cost_usd,
        api::text as api,
        fetched_at::timestamptz as fetched_at

    from read_last

)

select * from renamed
