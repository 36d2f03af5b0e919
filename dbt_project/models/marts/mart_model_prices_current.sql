-- The current price list: every price of the latest registry read, one row per
-- (provider, provider_model_id, component, condition), with the provider's and model's names.
-- Prices of earlier reads that the latest one no longer lists are history, not current; they stay in raw.

with

prices as (

    select * from {{ ref('stg_genai_prices__prices') }}

),

providers as (

    select * from {{ ref('stg_genai_prices__providers') }}

),

models as (

    select * from {{ ref('stg_genai_prices__models') }}

),

-- The latest read is taken from the prices this statement reads, not from a table of reads built earlier. A load
-- re-stamps every price it lists with its own batch, and dlt commits each table on its own: a batch list built
-- before (or read beside) such a commit names a batch that no price carries any more, which left the mart empty.
-- An unchanged registry's reload keeps the raw data version, so nothing would have rebuilt it.
latest_batch as (

    select batch_id
    from prices
    -- batch_id breaks a tie on loaded_at, so exactly one batch is the latest
    order by loaded_at desc, batch_id desc
    limit 1

),

current_prices as (

    select prices.*
    from prices
    inner join latest_batch
        on prices.batch_id = latest_batch.batch_id

),

final as (

    select
        current_prices.provider,
        providers.provider_name,
        current_prices.provider_model_id,
        models.model_name,
        models.context_window,
        current_prices.component,
        current_prices.condition,
        current_prices.price_usd_per_mtok::numeric(38, 12) as price_usd_per_mtok,
        current_prices.price_usd::numeric(38, 12) as price_usd,
        current_prices.unit,
        current_prices.unit_family,
        current_prices.units_per_price,
        current_prices.price_key,
        current_prices.variant,
        current_prices.above_input_tokens,
        current_prices.window_start_utc,
        current_prices.window_end_utc,
        current_prices.effective_from,
        current_prices.effective_until,
        -- In effect on today's UTC date (as of this build): within [effective_from, effective_until), a null bound
        -- being open. Time-of-day windows do not change this: a windowed price is in effect every day.
        (
            coalesce(current_prices.effective_from <= {{ current_utc_date() }}, true)
            and coalesce({{ current_utc_date() }} < current_prices.effective_until, true)
        ) as is_in_effect,
        models.is_deprecated,
        'genai-prices'::text as source,
        current_prices.source_origin,
        current_prices.source_version,
        current_prices.loaded_at

    from current_prices
    left join providers
        on current_prices.provider = providers.provider
    left join models
        on current_prices.provider = models.provider
        and current_prices.provider_model_id = models.provider_model_id

)

select * from final
