-- Anthropic's daily costs (legacy cost report or analytics API), per workspace, model and kind of cost, as billed.

with

source as (

    select * from {{ source('anthropic_usage', 'cost_buckets') }}

),

-- Rows of the legacy and the analytics API have different keys: after a switch of MODELATLAS_ANTHROPIC_USAGE_API,
-- a bucket read by both would count twice. Each bucket keeps the rows of the API that read it last.
chosen_api as (

    select distinct on (bucket_start) bucket_start, api
    from source
    order by bucket_start, fetched_at desc, api

),

read_last as (

    select source.*
    from source
    inner join chosen_api
        on chosen_api.bucket_start = source.bucket_start
        and chosen_api.api = source.api

),

renamed as (

    select
        'anthropic'::text as provider,
        bucket_key::text as cost_id,
        bucket_start::timestamptz as day_start,
        (bucket_start at time zone 'UTC')::date as day,
        null::text as project_id,
        workspace_id::text as workspace_id,
        concat_ws(', ', coalesce(description, model), token_type)::text as line_item,
        model::text as model_as_written,
        amount_usd::numeric(38, 18) as amount_usd,
        api::text as api

    from read_last

)

select * from renamed
