-- Anthropic's daily costs (legacy cost report or analytics API), per workspace, model and kind of cost, as billed.

with

read_last as (

    {{ anthropic_rows_read_last(source('anthropic_usage', 'cost_buckets')) }}

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
