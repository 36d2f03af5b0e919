-- OpenRouter endpoint health per canonical model, upstream provider and UTC day: the day's polls of every watched
-- OpenRouter id of the model (canonical_model_overrides, else the canonical_model_id macro) at that provider, all of
-- its endpoints (regions, quantizations) together. Medians of the samples OpenRouter published (rolling uptime over
-- 5 minutes, latency and throughput percentiles over 30 minutes). Incremental: each run aggregates again the days
-- from `status_lookback_hours` before the newest poll it holds.

{{
    config(
        materialized='incremental',
        unique_key=['canonical_model_id', 'provider_name', 'day'],
        incremental_strategy='delete+insert',
    )
}}

with

stats as (

    select * from {{ ref('stg_openrouter__endpoint_stats') }}
    where observed_at >= {{ rollup_scan_from('day') }}

),

overrides as (

    select * from {{ ref('canonical_model_overrides') }}
    where provider = 'openrouter'

),

identified as (

    select
        stats.*,
        coalesce(overrides.canonical_model_id, {{ canonical_model_id('stats.model_id') }}) as canonical_model_id

    from stats
    left join overrides on stats.model_id = overrides.provider_model_id

),

final as (

    select
        canonical_model_id,
        provider_name,
        (observed_at at time zone 'UTC')::date as day,
        array_agg(distinct model_id order by model_id) as model_ids,
        count(distinct endpoint_key) as endpoints,
        count(*) as samples,
        count(uptime_last_5m) as uptime_samples,
        percentile_cont(0.5) within group (order by uptime_last_5m) as uptime_last_5m_median,
        avg(uptime_last_5m) as uptime_last_5m_mean,
        min(uptime_last_5m) as uptime_last_5m_min,
        count(*) filter (
            where coalesce(status, 0) < 0 or coalesce(uptime_last_5m, 100) < {{ var('openrouter_down_uptime_pct') }}
        ) as samples_down,
        percentile_cont(0.5) within group (order by latency_p50_ms) as latency_p50_ms_median,
        percentile_cont(0.5) within group (order by latency_p99_ms) as latency_p99_ms_median,
        percentile_cont(0.5) within group (order by throughput_p50) as throughput_p50_median,
        max(observed_at) as last_observed_at

    from identified
    group by canonical_model_id, provider_name, (observed_at at time zone 'UTC')::date

)

select * from final
