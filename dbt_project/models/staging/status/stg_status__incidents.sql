-- Every incident and scheduled maintenance the status pages have published, one row each (merged on the page's
-- id, never deleted). The affected components' names are a json list, turned into text[] here.

with

source as (

    select * from {{ source('status', 'incidents') }}

),

renamed as (

    select
        page::text as page,
        provider::text as provider,
        platform::text as platform,
        incident_id::text as incident_id,
        kind::text as kind,
        title::text as title,
        status::text as status,
        impact::text as impact,
        source_impact::text as source_impact,
        created_at::timestamptz as created_at,
        updated_at::timestamptz as updated_at,
        resolved_at::timestamptz as resolved_at,
        scheduled_for::timestamptz as scheduled_for,
        scheduled_until::timestamptz as scheduled_until,
        shortlink::text as shortlink,
        case
            when jsonb_typeof(components::jsonb) = 'array'
                then array(select jsonb_array_elements_text(components::jsonb))
        end::text[] as components,
        observed_at::timestamptz as observed_at

    from source

)

select * from renamed
