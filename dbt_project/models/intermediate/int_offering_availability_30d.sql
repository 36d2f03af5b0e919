-- The last 30 days' availability (the UTC day today and the 29 before it) of each offering where it is known, the
-- input of mart_model_comparison's availability_30d_pct: one row per (canonical model, ModelAtlas provider) that
-- OpenRouter serves through that provider (the mean of its uptime_last_5m samples, upstream provider names mapped
-- by the openrouter_upstream_provider macro), and one row per probed provider with a null canonical_model_id (the
-- share of its probes that succeeded, every region), which stands for every offering of the provider that
-- OpenRouter's endpoints do not cover.

with

endpoint_days as (

    select
        *,
        {{ openrouter_upstream_provider('provider_name') }} as provider
    from {{ ref('int_openrouter_endpoint_stats_daily') }}
    where day > {{ current_utc_date() }} - 30

),

probe_days as (

    select * from {{ ref('int_probe_results_daily') }}
    where day > {{ current_utc_date() }} - 30

),

endpoints as (

    select
        canonical_model_id,
        provider,
        'openrouter'::text as basis,
        round(
            (sum(uptime_last_5m_mean * uptime_samples) / nullif(sum(uptime_samples), 0))::numeric, 2
        )::numeric(5, 2) as availability_30d_pct,
        sum(uptime_samples)::bigint as samples

    from endpoint_days
    where provider is not null
    group by canonical_model_id, provider
    having sum(uptime_samples) > 0

),

probes as (

    select
        null::text as canonical_model_id,
        provider,
        'probe'::text as basis,
        round(100.0 * sum(probes_ok) / sum(probes), 2)::numeric(5, 2) as availability_30d_pct,
        sum(probes)::bigint as samples

    from probe_days
    group by provider

),

final as (

    select * from endpoints
    union all
    select * from probes

)

select * from final
