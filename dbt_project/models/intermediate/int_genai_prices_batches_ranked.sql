-- Every read of the genai-prices registry whose prices are loaded, newest first. The latest batch is the one whose prices are current:
-- a row of an earlier batch was missing from the latest read, so it stays history and is no longer current.

with

loads as (

    select * from {{ ref('stg_genai_prices__loads') }}

),

-- dlt commits each table of a load on its own: a read whose load row is committed and whose prices are not yet is
-- left out until they are. A build in between would otherwise take it as the latest and find no current price.
priced_batches as (

    select distinct batch_id from {{ ref('stg_genai_prices__prices') }}

),

ranked as (

    select
        batch_id,
        source_origin,
        source_version,
        loaded_at,
        -- batch_id breaks a tie on loaded_at, so exactly one batch is the latest
        row_number() over (order by loaded_at desc, batch_id desc) as batch_rank

    from loads
    inner join priced_batches using (batch_id)

),

final as (

    select
        batch_id,
        source_origin,
        source_version,
        loaded_at,
        batch_rank,
        batch_rank = 1 as is_latest_batch

    from ranked

)

select * from final
