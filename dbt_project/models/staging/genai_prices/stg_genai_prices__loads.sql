with

source as (

    select * from {{ source('genai_prices', 'loads') }}

),

renamed as (

    select
        -- ids
        batch_id::text as batch_id,

        -- origin
        source_origin::text as source_origin,
        source_version::text as source_version,
        source_url::text as source_url,
        fallback_reason::text as fallback_reason,

        -- counts
        provider_count,
        model_count,

        -- timestamps
        fetched_at as loaded_at

    from source

)

select * from renamed
