-- One row per outage episode, from any of three sources:
--   probe       at least `outage_min_failures` (3) consecutive failed probes of a provider from one region;
--               episodes separated by fewer successful probes than that are one (int_probe_outage_episodes);
--   official    a time in which the provider's effective official status was partial_outage or major_outage
--               (int_provider_official_status_intervals);
--   openrouter  at least `openrouter_outage_min_polls` (2) consecutive polls on which an OpenRouter endpoint of a
--               model was down: status negative or uptime_last_5m below `openrouter_down_uptime_pct` (80).
-- Each episode names the incidents of its provider whose time overlaps it. Alert sensors read this table.

{{
    config(
        indexes=[
            {'columns': ['outage_id'], 'unique': True},
            {'columns': ['provider', 'started_at']},
            {'columns': ['started_at']},
        ],
    )
}}

with

probe_episodes as (

    select
        'probe'::text as source,
        provider,
        region,
        null::text as model_id,
        null::text as upstream_provider,
        null::text as endpoint_key,
        started_at,
        ended_at,
        last_observed_at,
        -- An unbroken run of failures is a major outage; failures broken by a few successes, a partial one.
        case when succeeded_count = 0 then 'major_outage' else 'partial_outage' end as severity,
        failed_count as failed_observations,
        failed_count + succeeded_count as observations,
        first_error_class

    from {{ ref('int_probe_outage_episodes') }}

),

openrouter_episodes as (

    select
        'openrouter'::text as source,
        {{ openrouter_upstream_provider('provider_name') }} as provider,
        null::text as region,
        model_id,
        provider_name as upstream_provider,
        endpoint_key,
        started_at,
        ended_at,
        last_observed_at,
        -- Half or more of the requests failing at some point is a major outage.
        case when lowest_uptime_last_5m < 50 then 'major_outage' else 'partial_outage' end as severity,
        failed_count as failed_observations,
        failed_count + succeeded_count as observations,
        null::text as first_error_class

    from {{ ref('int_openrouter_outage_episodes') }}

),

official_intervals as (

    select
        *,
        status_rank >= {{ status_rank("'partial_outage'") }} as is_outage,
        lag(status_rank) over intervals_in_order >= {{ status_rank("'partial_outage'") }} as follows_outage,
        lag(valid_to) over intervals_in_order as previous_valid_to
    from {{ ref('int_provider_official_status_intervals') }}
    window intervals_in_order as (partition by provider order by valid_from)

),

official_grouped as (

    select
        *,
        sum(case when is_outage and follows_outage and previous_valid_to = valid_from then 0 else 1 end) over (
            partition by provider order by valid_from rows between unbounded preceding and current row
        ) as episode_number
    from official_intervals

),

official_polls as (

    select provider, latest_poll_at from {{ ref('int_provider_official_status') }}

),

official_episodes as (

    select
        'official'::text as source,
        official_grouped.provider,
        null::text as region,
        null::text as model_id,
        null::text as upstream_provider,
        null::text as endpoint_key,
        min(official_grouped.valid_from) as started_at,
        (array_agg(official_grouped.valid_to order by official_grouped.valid_from desc))[1] as ended_at,
        max(official_polls.latest_poll_at) as last_observed_at,
        {{ status_of_rank('max(official_grouped.status_rank)') }} as severity,
        null::bigint as failed_observations,
        null::bigint as observations,
        null::text as first_error_class

    from official_grouped
    left join official_polls on official_grouped.provider = official_polls.provider
    where official_grouped.is_outage
    group by official_grouped.provider, official_grouped.episode_number

),

episodes as (

    select * from probe_episodes
    union all
    select * from official_episodes
    union all
    select * from openrouter_episodes

),

incidents as (

    select
        provider,
        incident_id,
        created_at,
        coalesce(
            resolved_at,
            case when status in ('resolved', 'postmortem', 'completed') then updated_at end,
            'infinity'::timestamptz
        ) as ends_at
    from {{ ref('stg_status__incidents') }}
    where kind = 'incident'

),

linked as (

    select
        episodes.source,
        episodes.provider,
        episodes.region,
        episodes.model_id,
        episodes.endpoint_key,
        episodes.started_at,
        array_agg(incidents.incident_id order by incidents.created_at, incidents.incident_id) as incident_ids
    from episodes
    inner join incidents
        on episodes.provider = incidents.provider
        and incidents.created_at < coalesce(episodes.ended_at, 'infinity'::timestamptz)
        and episodes.started_at < incidents.ends_at
    group by 1, 2, 3, 4, 5, 6

),

overrides as (

    select * from {{ ref('canonical_model_overrides') }}
    where provider = 'openrouter'

),

final as (

    select
        md5(concat_ws(
            '|', episodes.source, episodes.provider, episodes.region, episodes.model_id, episodes.endpoint_key,
            extract(epoch from episodes.started_at)::text
        )) as outage_id,
        episodes.source,
        episodes.provider,
        episodes.region,
        episodes.model_id,
        case
            when episodes.model_id is not null
                then coalesce(overrides.canonical_model_id, {{ canonical_model_id('episodes.model_id') }})
        end as canonical_model_id,
        episodes.upstream_provider,
        episodes.endpoint_key,
        episodes.started_at,
        episodes.ended_at,
        episodes.ended_at is null as is_open,
        round(
            extract(epoch from coalesce(episodes.ended_at, episodes.last_observed_at) - episodes.started_at) / 60, 2
        )::numeric(12, 2) as duration_minutes,
        episodes.severity,
        episodes.failed_observations,
        episodes.observations,
        episodes.first_error_class,
        coalesce(linked.incident_ids, '{}'::text[]) as linked_incident_ids,
        episodes.last_observed_at

    from episodes
    left join linked
        on episodes.source = linked.source
        and episodes.provider = linked.provider
        and episodes.region is not distinct from linked.region
        and episodes.model_id is not distinct from linked.model_id
        and episodes.endpoint_key is not distinct from linked.endpoint_key
        and episodes.started_at = linked.started_at
    left join overrides on episodes.model_id = overrides.provider_model_id

)

select * from final
