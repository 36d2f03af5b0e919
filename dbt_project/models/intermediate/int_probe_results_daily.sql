-- Probe availability and latency per provider, region and UTC day: probes, successes, availability and the
-- percentiles of the successful probes' timings (a failure's timing measures the failure, not the service; it
-- counts in availability). Incremental on plain PostgreSQL (TimescaleDB's continuous aggregates do this there):
-- each run aggregates again the days from `status_lookback_hours` before the newest probe it holds, so late
-- rows are counted.

{{
    config(
        materialized='incremental',
        unique_key=['provider', 'region', 'day'],
        incremental_strategy='delete+insert',
    )
}}

with

probes as (

    select * from {{ ref('stg_probe__results') }}
    where observed_at >= {{ rollup_scan_from('day') }}

),

final as (

    select
        provider,
        region,
        (observed_at at time zone 'UTC')::date as day,
        count(*) as probes,
        count(*) filter (where ok) as probes_ok,
        round(100.0 * count(*) filter (where ok) / count(*), 2)::numeric(5, 2) as availability_pct,
        percentile_cont(0.5) within group (order by total_ms) filter (where ok) as total_ms_p50,
        percentile_cont(0.95) within group (order by total_ms) filter (where ok) as total_ms_p95,
        percentile_cont(0.99) within group (order by total_ms) filter (where ok) as total_ms_p99,
        percentile_cont(0.5) within group (order by ttfb_ms) filter (where ok) as ttfb_ms_p50,
        percentile_cont(0.5) within group (order by dns_connect_ms) filter (where ok) as dns_connect_ms_p50,
        max(observed_at) as last_observed_at

    from probes
    group by provider, region, (observed_at at time zone 'UTC')::date

)

select * from final
