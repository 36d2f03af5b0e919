-- Runs of consecutive polls of one OpenRouter endpoint (model, upstream provider, endpoint tag) that were all down or
-- all up: one row per run. An endpoint is down on a poll when OpenRouter's status is negative or its uptime over the
-- last 5 minutes is below the `openrouter_down_uptime_pct` var (80 by default); no uptime figure (no traffic) is up.
-- valid_to is the first poll of the next run (null for the latest). Incremental, like int_probe_result_runs.

{{
    config(
        materialized='incremental',
        unique_key='run_id',
        incremental_strategy='delete+insert',
        indexes=[{'columns': ['model_id', 'provider_name', 'endpoint_key', 'valid_from']}, {'columns': ['run_id'], 'unique': True}],
    )
}}

with

polls as (

    select
        model_id,
        provider_name,
        endpoint_key,
        (
            coalesce(status, 0) < 0
            or coalesce(uptime_last_5m, 100) < {{ var('openrouter_down_uptime_pct') }}
        ) as is_down,
        uptime_last_5m,
        status,
        observed_at

    from {{ ref('stg_openrouter__endpoint_stats') }}

),

{{ islands(
    'polls',
    partition_by=['model_id', 'provider_name', 'endpoint_key'],
    state='is_down',
    last_columns=['status'],
    min_columns=['uptime_last_5m'],
) }},

final as (

    select
        md5(concat_ws('|', model_id, provider_name, endpoint_key, extract(epoch from valid_from)::text)) as run_id,
        model_id,
        provider_name,
        endpoint_key,
        is_down,
        valid_from,
        next_valid_from as valid_to,
        last_observed_at,
        observation_count,
        -- The lowest uptime_last_5m of the run's polls; OpenRouter's status at its latest poll.
        uptime_last_5m,
        status,
        next_valid_from is null as is_latest

    from islands

)

select * from final
