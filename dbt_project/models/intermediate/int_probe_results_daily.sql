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
        {{ probe_rollup_measures() }}

    from probes
    group by provider, region, (observed_at at time zone 'UTC')::date

)

select * from final
