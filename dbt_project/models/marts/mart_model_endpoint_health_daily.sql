-- OpenRouter's view of each model's health per upstream provider and UTC day: the median (and mean, and lowest) of
-- the day's uptime_last_5m samples, how many samples were down, and the day's medians of the latency and throughput
-- percentiles OpenRouter published, for the watched models (int_openrouter_endpoint_stats_daily).

{{
    config(
        indexes=[
            {'columns': ['canonical_model_id', 'provider_name', 'day'], 'unique': True},
            {'columns': ['day']},
        ],
    )
}}

with

days as (

    select * from {{ ref('int_openrouter_endpoint_stats_daily') }}

),

final as (

    select
        canonical_model_id,
        provider_name,
        {{ openrouter_upstream_provider('provider_name') }} as provider,
        day,
        model_ids,
        endpoints::bigint as endpoints,
        samples::bigint as samples,
        samples_down::bigint as samples_down,
        uptime_last_5m_median,
        uptime_last_5m_mean,
        uptime_last_5m_min,
        latency_p50_ms_median,
        latency_p99_ms_median,
        throughput_p50_median,
        last_observed_at

    from days

)

select * from final
