with

source as (

    select * from {{ source('genai_prices', 'prices') }}

),

renamed as (

    select
        -- ids
        provider_id::text as provider,
        model_id::text as provider_model_id,
        component::text as component,
        condition::text as condition,
        price_key::text as price_key,

        -- unit
        unit::text as unit,
        unit_family::text as unit_family,
        units_per_price,

        -- prices: exact numerics, never floats
        price_usd::numeric(38, 12) as price_usd,
        price_usd_per_mtok::numeric(38, 12) as price_usd_per_mtok,

        -- conditions
        variant::text as variant,
        above_input_tokens,
        window_start_utc::text as window_start_utc,
        window_end_utc::text as window_end_utc,

        -- validity
        effective_from,
        effective_until,

        -- registry batch
        batch_id::text as batch_id,
        source_origin::text as source_origin,
        source_version::text as source_version,
        fetched_at as loaded_at

    from source

)

select * from renamed
