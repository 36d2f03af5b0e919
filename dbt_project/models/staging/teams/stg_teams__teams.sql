-- The teams of the teams file as it reads now (raw_teams.teams is kept as scd2 history; retired teams are left
-- out): cost centre and monthly budget.

with

source as (

    select * from {{ source('teams', 'teams') }}

),

renamed as (

    select
        team::text as team,
        cost_centre::text as cost_centre,
        cost_centre_name::text as cost_centre_name,
        monthly_budget_usd::numeric(38, 18) as monthly_budget_usd,
        description::text as description

    from source
    where _dlt_valid_to is null

)

select * from renamed
