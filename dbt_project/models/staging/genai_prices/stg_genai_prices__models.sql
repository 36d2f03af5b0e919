with

source as (

    select * from {{ source('genai_prices', 'models') }}

),

renamed as (

    select
        -- ids
        provider_id::text as provider,
        model_id::text as provider_model_id,

        -- descriptions
        name::text as model_name,
        description::text as model_description,
        price_comments::text as price_comments,

        -- limits
        context_window,

        -- matching rule (JSON)
        match_rule,

        -- booleans
        deprecated as is_deprecated,
        has_dated_prices,

        -- counts
        variant_count,

        -- registry batch
        batch_id::text as batch_id,
        source_origin::text as source_origin,
        source_version::text as source_version,
        fetched_at as loaded_at

    from source

)

select * from renamed
