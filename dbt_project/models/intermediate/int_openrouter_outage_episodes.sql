-- OpenRouter endpoint outage episodes, per model, upstream provider and endpoint: at least
-- `openrouter_outage_min_polls` (2, ten minutes at the 5-minute cadence) consecutive polls on which the endpoint was
-- down (int_openrouter_endpoint_runs); episodes separated by fewer polls up than that are one. An episode starts at
-- its first poll down and ends at the first poll up after it (null while it lasts).

with

runs as (

    select
        model_id,
        provider_name,
        endpoint_key,
        is_down as failing,
        valid_from,
        valid_to,
        last_observed_at,
        observation_count,
        uptime_last_5m

    from {{ ref('int_openrouter_endpoint_runs') }}

),

{{ outage_episodes(
    'runs',
    partition_by=['model_id', 'provider_name', 'endpoint_key'],
    min_count=var('openrouter_outage_min_polls'),
    min_columns=['uptime_last_5m'],
) }},

final as (

    select
        model_id,
        provider_name,
        endpoint_key,
        started_at,
        ended_at,
        last_observed_at,
        failed_count,
        succeeded_count,
        uptime_last_5m as lowest_uptime_last_5m

    from episodes

)

select * from final
