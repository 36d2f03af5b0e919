with

source as (

    select * from {{ source('litellm', 'loads') }}

),

renamed as (

    select
        -- ids
        batch_id::text as batch_id,

        -- origin
        source_url::text as source_url,

        -- counts
        model_count::bigint as model_count,
        price_point_count::bigint as price_point_count,

        -- timestamps
        fetched_at::timestamptz as loaded_at

    from source

)

select * from renamed
