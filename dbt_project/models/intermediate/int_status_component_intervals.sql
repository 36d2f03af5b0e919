-- The status history of every status page: one row per interval in which the page's overall indicator
-- (component_key '') or one component kept one status; a status change opens a new interval. valid_to is the
-- first poll that saw the next status; null while the interval lasts. A component the page no longer lists ends
-- at its last sighting (what it did after is unknown), so a vanished component never stays current.
-- Incremental: each run continues every page's latest intervals with the polls that arrived since (the islands
-- macro); a full refresh derives the same rows from every poll.

{{
    config(
        materialized='incremental',
        unique_key='interval_id',
        incremental_strategy='delete+insert',
        indexes=[{'columns': ['provider', 'valid_from']}, {'columns': ['interval_id'], 'unique': True}],
    )
}}

with

observations as (

    select
        page,
        coalesce(component_id, '') as component_key,
        provider,
        platform,
        component_id,
        component_name,
        component_group,
        is_page_indicator,
        status,
        source_status,
        status_known,
        description,
        observed_at

    from {{ ref('stg_status__observations') }}

),

{{ islands(
    'observations',
    partition_by=['page', 'component_key'],
    state='status',
    first_columns=['source_status', 'status_known'],
    last_columns=['provider', 'platform', 'component_id', 'component_name', 'component_group', 'is_page_indicator',
                  'description'],
) }},

page_polls as (

    select page, max(last_observed_at) as latest_poll_at
    from islands
    group by page

),

final as (

    select
        md5(concat_ws('|', islands.page, islands.component_key, extract(epoch from islands.valid_from)::text))
            as interval_id,
        islands.page,
        islands.provider,
        islands.platform,
        islands.component_key,
        islands.component_id,
        islands.component_name,
        islands.component_group,
        islands.is_page_indicator,
        islands.status,
        islands.source_status,
        islands.status_known,
        islands.description,
        islands.valid_from,
        coalesce(
            islands.next_valid_from,
            case when islands.last_observed_at < page_polls.latest_poll_at then islands.last_observed_at end
        ) as valid_to,
        islands.last_observed_at,
        islands.observation_count,
        (islands.next_valid_from is null and islands.last_observed_at = page_polls.latest_poll_at) as is_current

    from islands
    inner join page_polls on islands.page = page_polls.page

)

select * from final
