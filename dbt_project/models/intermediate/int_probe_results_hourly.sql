-- Probe availability and latency per provider, region and UTC hour: probes, successes, availability and the
-- percentiles of the successful probes' timings (a failure's timing measures the failure, not the service; it
-- counts in availability). Incremental on plain PostgreSQL (TimescaleDB's continuous aggregates do this there):
-- each run aggregates again the hours from `status_lookback_hours` before the newest probe it holds, so late
-- rows are counted.

{{
    config(
        materialized='incremental',
        unique_key=['provider', 'region', 'hour_start'],
        incremental_strategy='delete+insert',
    )
}}

with

probes as (

    select * from {{ ref('stg_probe__results') }}
    where observed_at >= {{ rollup_scan_from('hour') }}

),

final as (

    select
        provider,
        region,
        date_trunc('hour', observed_at, 'UTC') as hour_start,
        {{ probe_rollup_measures() }}

    from probes
    group by provider, region, date_trunc('hour', observed_at, 'UTC')

)

select * from final
