-- Every update posted on an incident or maintenance (merged on the page's ids, never deleted).

with

source as (

    select * from {{ source('status', 'incident_updates') }}

),

renamed as (

    select
        page::text as page,
        incident_id::text as incident_id,
        update_id::text as update_id,
        status::text as status,
        body::text as body,
        created_at::timestamptz as created_at,
        display_at::timestamptz as display_at,
        observed_at::timestamptz as observed_at

    from source

)

select * from renamed
