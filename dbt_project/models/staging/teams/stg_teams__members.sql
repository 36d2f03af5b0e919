-- Who belongs to which team, through time (raw_teams.team_members is kept as scd2 history): one row per version of
-- a member. The first version of a member reaches back without limit: usage from before the teams file was first
-- loaded belongs to the team the file first named.

with

source as (

    select * from {{ source('teams', 'team_members') }}

),

renamed as (

    select
        member_key::text as member_key,
        kind::text as kind,
        value::text as value,
        team::text as team,
        _dlt_valid_from::timestamptz as valid_from,
        _dlt_valid_to::timestamptz as valid_to,
        case
            when row_number() over (partition by member_key order by _dlt_valid_from) = 1
                then '-infinity'::timestamptz
            else _dlt_valid_from::timestamptz
        end as applies_from,
        coalesce(_dlt_valid_to::timestamptz, 'infinity'::timestamptz) as applies_to

    from source

)

select * from renamed
