-- Per provider, region and UTC day: probe availability and latency percentiles (int_probe_results_daily), the
-- minutes the provider's effective official status spent in each status (int_provider_official_status_intervals,
-- clipped to the day; an interval that still holds ends at the provider's latest poll) and the incidents that
-- overlapped the day with their minutes within it. Probes define the region; official status and incidents have
-- none, so they are repeated on every region row of the provider that day, and a day with no probe of the provider
-- has one row, region `global`.

{%- set statuses = ['operational', 'degraded', 'partial_outage', 'major_outage', 'maintenance', 'unknown'] %}

{{
    config(
        indexes=[
            {'columns': ['provider', 'region', 'day'], 'unique': True},
            {'columns': ['day']},
        ],
    )
}}

with

probe_days as (

    select * from {{ ref('int_probe_results_daily') }}

),

polls as (

    select provider, latest_poll_at from {{ ref('int_provider_official_status') }}

),

official_intervals as (

    select
        intervals.provider,
        intervals.status,
        intervals.valid_from,
        coalesce(intervals.valid_to, greatest(polls.latest_poll_at, intervals.valid_from)) as valid_to
    from {{ ref('int_provider_official_status_intervals') }} as intervals
    left join polls on intervals.provider = polls.provider

),

incident_spans as (

    select
        incidents.provider,
        incidents.created_at as valid_from,
        coalesce(
            incidents.resolved_at,
            case when incidents.status in ('resolved', 'postmortem', 'completed') then incidents.updated_at end,
            greatest(polls.latest_poll_at, incidents.observed_at)
        ) as valid_to
    from {{ ref('stg_status__incidents') }} as incidents
    left join polls on incidents.provider = polls.provider
    where incidents.kind = 'incident'
        and incidents.created_at is not null

),

-- Each span split into the UTC days it touches, with the minutes it spent in each.
official_days as (

    select
        official_intervals.provider,
        official_intervals.status,
        days.day::date as day,
        extract(epoch from
            least(official_intervals.valid_to, (days.day + interval '1 day') at time zone 'UTC')
            - greatest(official_intervals.valid_from, days.day at time zone 'UTC')
        ) / 60 as minutes
    from official_intervals
    -- UTC midnights, as timestamps without a time zone (dates would become the session's time zone's).
    cross join lateral generate_series(
        (official_intervals.valid_from at time zone 'UTC')::date::timestamp,
        (official_intervals.valid_to at time zone 'UTC')::date::timestamp,
        interval '1 day'
    ) as days (day)

),

incident_days as (

    select
        incident_spans.provider,
        days.day::date as day,
        extract(epoch from
            least(incident_spans.valid_to, (days.day + interval '1 day') at time zone 'UTC')
            - greatest(incident_spans.valid_from, days.day at time zone 'UTC')
        ) / 60 as minutes,
        incident_spans.valid_from,
        incident_spans.valid_to
    from incident_spans
    -- UTC midnights, as timestamps without a time zone (dates would become the session's time zone's).
    cross join lateral generate_series(
        (incident_spans.valid_from at time zone 'UTC')::date::timestamp,
        (incident_spans.valid_to at time zone 'UTC')::date::timestamp,
        interval '1 day'
    ) as days (day)
    where incident_spans.valid_to >= incident_spans.valid_from

),

official_minutes as (

    select
        provider,
        day,
        {% for status in statuses %}round((coalesce(sum(minutes) filter (where status = '{{ status }}'), 0))::numeric, 2)::numeric(8, 2)
            as minutes_{{ status }}{{ ',' if not loop.last }}
        {% endfor %}
    from official_days
    where minutes > 0
    group by provider, day

),

incident_totals as (

    select
        provider,
        day,
        count(*) as incidents,
        round(sum(minutes)::numeric, 2)::numeric(10, 2) as incident_minutes
    from incident_days
    -- An incident opened and resolved at one instant still happened that day.
    where minutes > 0 or (minutes = 0 and valid_from = valid_to)
    group by provider, day

),

official_provider_days as (

    select provider, day from official_minutes
    union
    select provider, day from incident_totals

),

provider_days as (

    select provider, region, day from probe_days
    union all
    select official_provider_days.provider, 'global'::text, official_provider_days.day
    from official_provider_days
    where not exists (
        select 1 from probe_days
        where probe_days.provider = official_provider_days.provider and probe_days.day = official_provider_days.day
    )

),

final as (

    select
        provider_days.provider,
        provider_days.region,
        provider_days.day,
        coalesce(probe_days.probes, 0)::bigint as probes,
        coalesce(probe_days.probes_ok, 0)::bigint as probes_ok,
        probe_days.availability_pct,
        probe_days.total_ms_p50 as latency_p50_ms,
        probe_days.total_ms_p95 as latency_p95_ms,
        probe_days.total_ms_p99 as latency_p99_ms,
        {% for status in statuses %}coalesce(official_minutes.minutes_{{ status }}, 0)::numeric(8, 2) as minutes_{{ status }},
        {% endfor %}coalesce(incident_totals.incidents, 0)::bigint as incidents,
        coalesce(incident_totals.incident_minutes, 0)::numeric(10, 2) as incident_minutes

    from provider_days
    left join probe_days
        on provider_days.provider = probe_days.provider
        and provider_days.region = probe_days.region
        and provider_days.day = probe_days.day
    left join official_minutes
        on provider_days.provider = official_minutes.provider
        and provider_days.day = official_minutes.day
    left join incident_totals
        on provider_days.provider = incident_totals.provider
        and provider_days.day = incident_totals.day

)

select * from final
