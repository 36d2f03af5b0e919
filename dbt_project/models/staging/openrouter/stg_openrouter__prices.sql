-- OpenRouter's prices, one row per (model, component). Read from the `pricing` strings rather than the typed
-- numeric(38, 12) columns, so that per-token prices with more than 12 decimals (0.0000000833333333333333) stay exact
-- once scaled to USD per million tokens. A string that is not a non-negative number ("-1": varies) gives a row
-- whose price is null, with the string in `price_raw`.

with

source as (

    select * from {{ source('openrouter', 'models') }}

),

components as (

    select *
    from (
        values
            ('prompt', 'input', 'token'),
            ('completion', 'output', 'token'),
            ('internal_reasoning', 'reasoning', 'token'),
            ('input_cache_read', 'cache_read', 'token'),
            ('input_cache_write', 'cache_write', 'token'),
            ('request', 'request', 'request'),
            ('image', 'input_image', 'image'),
            ('web_search', 'web_search', 'search')
    ) as component_keys (price_key, component, unit)

),

listed as (

    select
        source.id,
        source.region,
        source.batch_id,
        source._fetched_at,
        components.component,
        components.unit,
        source.pricing ->> components.price_key as price_raw

    from source
    inner join components
        on source.pricing ? components.price_key

),

prices as (

    select
        listed.*,
        case
            when listed.price_raw ~ '^\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]{1,3})?\s*$'
                then listed.price_raw::numeric
        end as price

    from listed

),

renamed as (

    select
        'openrouter'::text as provider,
        id::text as provider_model_id,
        component::text as component,
        case when unit = 'token' then 'mtok' else unit end::text as unit,
        price_raw::text as price_raw,
        case when unit = 'token' then price * 1000000 end::numeric as price_usd_per_mtok,
        case when unit <> 'token' then price end::numeric as price_usd,
        region::text as region,
        batch_id::text as batch_id,
        _fetched_at::timestamptz as fetched_at

    from prices

)

select * from renamed
