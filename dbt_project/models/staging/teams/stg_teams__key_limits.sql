-- The monthly spend and request limits per API key, as the teams file reads now.

with

source as (

    select * from {{ source('teams', 'key_limits') }}

),

renamed as (

    select
        api_key_id::text as api_key_id,
        monthly_spend_limit_usd::numeric(38, 18) as monthly_spend_limit_usd,
        monthly_request_limit::bigint as monthly_request_limit,
        team::text as team

    from source
    where _dlt_valid_to is null

)

select * from renamed
