-- Each provider's official status now, as of its pages' latest polls: the effective status (the worst, by
-- status_rank, of the pages' overall indicators, the components' current statuses, the open incidents' impacts and
-- the maintenances in progress), the indicator's description, the open incidents and the components not operational.

with

current_intervals as (

    select * from {{ ref('int_status_component_intervals') }}
    where is_current

),

incidents as (

    select * from {{ ref('stg_status__incidents') }}

),

-- A page on a feed platform publishes incidents only: its provider is known from them.
polls as (

    select provider, max(latest_poll_at) as latest_poll_at
    from (
        select provider, max(last_observed_at) as latest_poll_at
        from {{ ref('int_status_component_intervals') }}
        group by provider
        union all
        select provider, max(observed_at)
        from incidents
        group by provider
    ) as seen
    group by provider

),

indicators as (

    select distinct on (provider)
        provider,
        status as indicator_status,
        {{ status_rank('status') }} as indicator_rank,
        description
    from current_intervals
    where is_page_indicator
    order by provider, {{ status_rank('status') }} desc, page

),

components as (

    select
        provider,
        max({{ status_rank('status') }}) as worst_component_rank,
        count(*) filter (where status in ('maintenance', 'degraded', 'partial_outage', 'major_outage'))
            as components_not_operational_count,
        string_agg(
            component_name || ' (' || status || ')', ', ' order by {{ status_rank('status') }} desc, component_name
        ) filter (where status in ('maintenance', 'degraded', 'partial_outage', 'major_outage'))
            as components_not_operational
    from current_intervals
    where not is_page_indicator
    group by provider

),

open_incidents as (

    select
        provider,
        count(*) as open_incident_count,
        max({{ status_rank('impact') }}) as worst_open_impact_rank,
        string_agg(title, '; ' order by created_at, incident_id) as open_incident_titles,
        min(created_at) as open_since
    from incidents
    where kind = 'incident'
        and resolved_at is null
        and status not in ('resolved', 'postmortem', 'completed')
    group by provider

),

maintenances as (

    select
        provider,
        count(*) as maintenances_in_progress,
        max({{ status_rank('impact') }}) as maintenance_rank
    from incidents
    where kind = 'maintenance'
        and resolved_at is null
        and status in ('in_progress', 'verifying')
    group by provider

),

joined as (

    select
        polls.provider,
        polls.latest_poll_at,
        indicators.indicator_status,
        indicators.description,
        greatest(
            coalesce(indicators.indicator_rank, 0),
            coalesce(components.worst_component_rank, 0),
            coalesce(open_incidents.worst_open_impact_rank, 0),
            coalesce(maintenances.maintenance_rank, 0)
        ) as effective_rank,
        coalesce(open_incidents.open_incident_count, 0) as open_incident_count,
        open_incidents.worst_open_impact_rank,
        open_incidents.open_incident_titles,
        open_incidents.open_since,
        coalesce(maintenances.maintenances_in_progress, 0) as maintenances_in_progress,
        coalesce(components.components_not_operational_count, 0) as components_not_operational_count,
        components.components_not_operational

    from polls
    left join indicators on polls.provider = indicators.provider
    left join components on polls.provider = components.provider
    left join open_incidents on polls.provider = open_incidents.provider
    left join maintenances on polls.provider = maintenances.provider

),

final as (

    select
        provider,
        {{ status_of_rank('effective_rank') }} as effective_status,
        effective_rank as effective_status_rank,
        indicator_status,
        description,
        latest_poll_at,
        open_incident_count,
        {{ status_of_rank('worst_open_impact_rank') }} as worst_open_incident_impact,
        open_incident_titles,
        open_since,
        maintenances_in_progress,
        components_not_operational_count,
        components_not_operational

    from joined

)

select * from final
