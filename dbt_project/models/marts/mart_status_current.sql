-- Each provider's status now, in one row: what its official pages say (the effective status: the worst of the
-- indicators, components, open incidents and maintenances in progress), what the latest probes saw, how many of the
-- watched OpenRouter endpoints of its models are up, and whether the page and the probes disagree. Providers are
-- those a status page or a probe speaks for.

{%- set min_failures = var('outage_min_failures') %}

with

official as (

    select * from {{ ref('int_provider_official_status') }}

),

latest_runs as (

    select * from {{ ref('int_probe_result_runs') }}
    where is_latest

),

latest_probes as (

    select distinct on (provider)
        provider,
        region,
        last_observed_at,
        http_status,
        total_ms,
        case when ok then null else valid_from end as failing_since,
        case when ok then 0 else observation_count end as consecutive_failed_probes,
        ok
    from latest_runs
    order by provider, last_observed_at desc, region

),

-- The last `outage_min_failures` (3) probes of every region probed all failed, or all succeeded.
probe_verdicts as (

    select
        provider,
        bool_and(not ok and observation_count >= {{ min_failures }}) as probes_failing,
        bool_and(ok and observation_count >= {{ min_failures }}) as probes_succeeding
    from latest_runs
    group by provider

),

-- Each endpoint as of its model's latest poll: endpoints OpenRouter no longer lists are left out.
endpoint_runs as (

    select
        *,
        max(last_observed_at) over (partition by model_id) as model_polled_at
    from {{ ref('int_openrouter_endpoint_runs') }}
    where is_latest

),

watched_endpoints as (

    select {{ openrouter_author_provider('model_id') }} as provider, is_down
    from endpoint_runs
    where last_observed_at = model_polled_at

    union all

    -- OpenRouter itself serves every watched endpoint.
    select 'openrouter', is_down
    from endpoint_runs
    where last_observed_at = model_polled_at

),

endpoints as (

    select
        provider,
        count(*) as openrouter_endpoints_watched,
        count(*) filter (where not is_down) as openrouter_endpoints_up
    from watched_endpoints
    where provider is not null
    group by provider

),

providers as (

    select provider from official
    union
    select provider from latest_runs

),

final as (

    select
        providers.provider,
        coalesce(official.effective_status, 'unknown') as effective_status,
        official.description as status_description,
        official.indicator_status,
        official.latest_poll_at as status_observed_at,
        coalesce(official.open_incident_count, 0)::bigint as open_incident_count,
        official.worst_open_incident_impact,
        official.open_incident_titles,
        official.open_since as open_incidents_since,
        coalesce(official.maintenances_in_progress, 0)::bigint as maintenances_in_progress,
        coalesce(official.components_not_operational_count, 0)::bigint as components_not_operational_count,
        official.components_not_operational,
        latest_probes.ok as latest_probe_ok,
        latest_probes.http_status as latest_probe_http_status,
        latest_probes.total_ms as latest_probe_total_ms,
        latest_probes.last_observed_at as latest_probe_at,
        latest_probes.region as latest_probe_region,
        latest_probes.consecutive_failed_probes,
        latest_probes.failing_since as probes_failing_since,
        endpoints.openrouter_endpoints_watched,
        endpoints.openrouter_endpoints_up,
        round(100.0 * endpoints.openrouter_endpoints_up / nullif(endpoints.openrouter_endpoints_watched, 0), 2)::numeric(5, 2)
            as openrouter_endpoints_up_pct,
        coalesce(
            (official.effective_status = 'operational' and probe_verdicts.probes_failing)
            or (official.effective_status in ('partial_outage', 'major_outage') and probe_verdicts.probes_succeeding),
            false
        ) as status_disagrees

    from providers
    left join official on providers.provider = official.provider
    left join latest_probes on providers.provider = latest_probes.provider
    left join probe_verdicts on providers.provider = probe_verdicts.provider
    left join endpoints on providers.provider = endpoints.provider

)

select * from final
