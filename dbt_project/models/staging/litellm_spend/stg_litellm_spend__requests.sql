-- Every request of the LiteLLM proxy's spend log, one row each, in the shape every usage record shares.
-- LiteLLM's prompt_tokens count every prompt token: the cache reads and cache writes are billed apart. The spend is
-- LiteLLM's own price of the request, kept beside the price this warehouse computes.

with

source as (

    select * from {{ source('litellm_spend', 'spend_logs') }}

),

renamed as (

    select
        'litellm_spend'::text as record_source,
        request_id::text as record_id,
        'request'::text as record_kind,
        started_at::timestamptz as used_at,
        null::timestamptz as bucket_end,
        custom_llm_provider::text as provider_as_written,
        model::text as model_as_written,
        'standard'::text as service_tier,
        'global'::text as region,
        null::text as context_window,
        api_key_hash::text as api_key_id,
        null::text as project_id,
        null::text as workspace_id,
        user_id::text as user_id,
        team_id::text as litellm_team,
        null::text as file_team,
        1::bigint as requests,
        coalesce(prompt_tokens, 0)::bigint as prompt_tokens,
        greatest(
            coalesce(prompt_tokens, 0) - coalesce(cached_tokens, 0) - coalesce(cache_write_tokens, 0), 0
        )::bigint as uncached_input_tokens,
        coalesce(cached_tokens, 0)::bigint as cache_read_tokens,
        coalesce(cache_write_tokens, 0)::bigint as cache_write_5m_tokens,
        0::bigint as cache_write_1h_tokens,
        coalesce(completion_tokens, 0)::bigint as output_tokens,
        null::bigint as reasoning_tokens,
        spend_usd::numeric(38, 18) as provider_reported_cost_usd,
        model_group::text as model_group,
        call_type::text as call_type,
        end_user::text as end_user,
        cache_hit::boolean as cache_hit,
        fetched_at::timestamptz as fetched_at

    from source

)

select * from renamed
