-- OpenAI's daily costs per project and line item, as billed (USD).

with

source as (

    select * from {{ source('openai_usage', 'cost_buckets') }}

),

renamed as (

    select
        'openai'::text as provider,
        bucket_key::text as cost_id,
        bucket_start::timestamptz as day_start,
        (bucket_start at time zone 'UTC')::date as day,
        project_id::text as project_id,
        null::text as workspace_id,
        line_item::text as line_item,
        -- OpenAI's line items read "<model>, <input|output|...>": the model is the part before the comma.
        nullif(trim(split_part(line_item, ',', 1)), '')::text as model_as_written,
        amount_usd::numeric(38, 18) as amount_usd

    from source

)

select * from renamed
