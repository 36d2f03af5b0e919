-- Every poll of every official status page: one row for the page's overall indicator (component_id null) and one
-- per component, statuses normalised, the page's own value beside them.

with

source as (

    select * from {{ source('status', 'status_observations') }}

),

renamed as (

    select
        observed_at::timestamptz as observed_at,
        page::text as page,
        provider::text as provider,
        platform::text as platform,
        component_id::text as component_id,
        component_name::text as component_name,
        component_group::text as component_group,
        (component_id is null) as is_page_indicator,
        status::text as status,
        source_status::text as source_status,
        status_known::boolean as status_known,
        description::text as description

    from source

)

select * from renamed
