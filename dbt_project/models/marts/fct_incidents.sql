-- One row per incident an official status page has published (scheduled maintenances are left out: they are
-- planned, and count in the official status minutes instead): impact, status, when it opened and was resolved, how
-- long that took, the components it affected, how many updates it got and the page's link to it.

{{
    config(
        indexes=[
            {'columns': ['provider', 'incident_id'], 'unique': True},
            {'columns': ['created_at']},
        ],
    )
}}

with

incidents as (

    select * from {{ ref('stg_status__incidents') }}
    where kind = 'incident'

),

updates as (

    select
        page,
        incident_id,
        count(*) as update_count,
        min(created_at) as first_update_at,
        max(created_at) as last_update_at
    from {{ ref('stg_status__incident_updates') }}
    group by page, incident_id

),

final as (

    select
        incidents.provider,
        incidents.incident_id,
        incidents.page,
        incidents.platform,
        incidents.title,
        incidents.impact,
        incidents.source_impact,
        incidents.status,
        (incidents.resolved_at is null and incidents.status not in ('resolved', 'postmortem', 'completed'))
            as is_open,
        incidents.created_at,
        incidents.updated_at,
        incidents.resolved_at,
        round(extract(epoch from incidents.resolved_at - incidents.created_at) / 60, 2)::numeric(12, 2)
            as time_to_resolve_minutes,
        coalesce(incidents.components, '{}'::text[]) as components,
        coalesce(updates.update_count, 0)::bigint as update_count,
        updates.first_update_at,
        updates.last_update_at,
        incidents.shortlink,
        incidents.observed_at as last_observed_at

    from incidents
    left join updates
        on incidents.page = updates.page
        and incidents.incident_id = updates.incident_id

)

select * from final
