-- When each price source was last loaded. An unchanged load writes nothing to a price_points table, so a current
-- price point's last sighting is its source's latest load, taken from the source's own load record.

with

genai_prices_loads as (

    select loaded_at from {{ ref('stg_genai_prices__loads') }}

),

litellm_loads as (

    select loaded_at from {{ ref('stg_litellm__loads') }}

),

openrouter_loads as (

    select fetched_at as loaded_at from {{ ref('stg_openrouter__models') }}

),

unioned as (

    select 'genai-prices'::text as source, max(loaded_at) as latest_loaded_at, count(*) as load_count
    from genai_prices_loads
    union all
    select 'litellm'::text, max(loaded_at), count(*) from litellm_loads
    union all
    -- OpenRouter's catalog rows keep the fetch that last listed them; the newest is the latest load.
    select 'openrouter'::text, max(loaded_at), count(distinct loaded_at) from openrouter_loads

),

final as (

    select source, latest_loaded_at, load_count
    from unioned

)

select * from final
