-- Every active probe of a provider's API: timings, HTTP status, error class; a failed probe is a row.

with

source as (

    select * from {{ source('probe', 'probe_results') }}

),

renamed as (

    select
        observed_at::timestamptz as observed_at,
        provider::text as provider,
        region::text as region,
        target::text as target,
        http_status::bigint as http_status,
        ok::boolean as ok,
        error_class::text as error_class,
        dns_connect_ms::double precision as dns_connect_ms,
        ttfb_ms::double precision as ttfb_ms,
        total_ms::double precision as total_ms,
        error::text as error

    from source

)

select * from renamed
