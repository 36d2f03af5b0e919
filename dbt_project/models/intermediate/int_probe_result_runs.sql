-- Runs of consecutive probes of one provider from one region that all succeeded or all failed: one row per run.
-- valid_to is the first probe of the next run (null for the latest).
-- Outage episodes are read from these runs, and the latest run tells how the last probes went, without reading
-- every probe again. Incremental: each run continues the latest runs with the probes that arrived since.

{{
    config(
        materialized='incremental',
        unique_key='run_id',
        incremental_strategy='delete+insert',
        indexes=[{'columns': ['provider', 'region', 'valid_from']}, {'columns': ['run_id'], 'unique': True}],
    )
}}

with

probes as (

    select
        provider,
        region,
        ok,
        error_class,
        http_status,
        total_ms,
        target,
        observed_at

    from {{ ref('stg_probe__results') }}

),

{{ islands(
    'probes',
    partition_by=['provider', 'region'],
    state='ok',
    first_columns=['error_class'],
    last_columns=['http_status', 'total_ms', 'target'],
) }},

final as (

    select
        md5(concat_ws('|', provider, region, extract(epoch from valid_from)::text)) as run_id,
        provider,
        region,
        ok,
        valid_from,
        next_valid_from as valid_to,
        last_observed_at,
        observation_count,
        -- The run's first probe's error class; the latest probe's answer (the names the islands macro carries).
        error_class,
        http_status,
        total_ms,
        target,
        next_valid_from is null as is_latest

    from islands

)

select * from final
