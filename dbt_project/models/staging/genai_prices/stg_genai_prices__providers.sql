with

source as (

    select * from {{ source('genai_prices', 'providers') }}

),

renamed as (

    select
        -- ids
        provider_id::text as provider,

        -- descriptions
        name::text as provider_name,
        description::text as provider_description,
        api_pattern::text as api_pattern,
        price_comments::text as price_comments,

        -- matching rules and pricing pages (JSON)
        pricing_urls,
        model_match,
        provider_match,
        fallback_model_providers,

        -- counts
        model_count,

        -- registry batch
        batch_id::text as batch_id,
        source_origin::text as source_origin,
        source_version::text as source_version,
        fetched_at as loaded_at

    from source

)

select * from renamed
