-- Every poll of the watched models' OpenRouter endpoints: one row per upstream provider endpoint, with OpenRouter's
-- rolling uptime, latency (milliseconds) and throughput (tokens per second).

with

source as (

    select * from {{ source('openrouter_endpoints', 'openrouter_endpoint_stats') }}

),

renamed as (

    select
        observed_at::timestamptz as observed_at,
        model_id::text as model_id,
        provider_name::text as provider_name,
        endpoint_name::text as endpoint_name,
        tag::text as tag,
        -- One model can have several endpoints at one provider (regions, quantizations): the tag tells them apart.
        coalesce(nullif(tag, ''), provider_name)::text as endpoint_key,
        quantization::text as quantization,
        status::bigint as status,
        uptime_last_5m::double precision as uptime_last_5m,
        uptime_last_30m::double precision as uptime_last_30m,
        uptime_last_1d::double precision as uptime_last_1d,
        latency_p50_ms::double precision as latency_p50_ms,
        latency_p75_ms::double precision as latency_p75_ms,
        latency_p90_ms::double precision as latency_p90_ms,
        latency_p99_ms::double precision as latency_p99_ms,
        throughput_p50::double precision as throughput_p50,
        throughput_p75::double precision as throughput_p75,
        throughput_p90::double precision as throughput_p90,
        throughput_p99::double precision as throughput_p99,
        context_length::bigint as context_length,
        max_completion_tokens::bigint as max_completion_tokens,
        max_prompt_tokens::bigint as max_prompt_tokens,
        price_prompt_usd_per_token::numeric(38, 18) as price_prompt_usd_per_token,
        price_completion_usd_per_token::numeric(38, 18) as price_completion_usd_per_token,
        pricing::jsonb as pricing,
        supported_parameters::jsonb as supported_parameters

    from source

)

select * from renamed
