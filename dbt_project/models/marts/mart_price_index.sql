-- A price index of a fixed basket of long-lived models (the price_index_basket seed: provider, canonical model,
-- component, weight), one row per month: each item priced with price_as_of at the month's end (genai-prices
-- first, then LiteLLM, then OpenRouter). The base month is the earliest month in which the most basket items are
-- priced (all of them, once every item has a price); the index is 100 there and, in every other month, 100 times the
-- weighted cost of the items priced both then and in the base month over their weighted cost in the base month.

with

basket as (

    select * from {{ ref('price_index_basket') }}

),

months as (

    select * from {{ ref('int_price_months') }}

),

item_prices as (

    select
        months.price_month,
        basket.provider,
        basket.canonical_model_id,
        basket.component,
        basket.weight,
        {{ price_as_of(
            canonical_model_id='basket.canonical_model_id',
            provider='basket.provider',
            component='basket.component',
            at='months.priced_at'
        ) }} as price_usd

    from months
    cross join basket

),

base_month as (

    select price_month
    from item_prices
    where price_usd is not null
    group by price_month
    order by count(*) desc, price_month
    limit 1

),

base_prices as (

    select item_prices.*
    from item_prices
    inner join base_month
        on item_prices.price_month = base_month.price_month
    where item_prices.price_usd is not null

),

per_month as (

    select
        item_prices.price_month,
        count(*) as basket_item_count,
        count(item_prices.price_usd) as items_priced,
        sum(item_prices.weight * item_prices.price_usd) as basket_cost_usd,
        sum(item_prices.weight * item_prices.price_usd) filter (where base_prices.price_usd is not null)
            as matched_cost_usd,
        sum(base_prices.weight * base_prices.price_usd) filter (where item_prices.price_usd is not null)
            as matched_base_cost_usd

    from item_prices
    left join base_prices
        on item_prices.provider = base_prices.provider
        and item_prices.canonical_model_id = base_prices.canonical_model_id
        and item_prices.component = base_prices.component
    group by item_prices.price_month

),

final as (

    select
        per_month.price_month,
        per_month.basket_item_count,
        per_month.items_priced,
        per_month.basket_cost_usd::numeric(38, 18) as basket_cost_usd,
        coalesce(per_month.price_month = (select price_month from base_month), false) as is_base_month,
        case
            when per_month.matched_base_cost_usd > 0
                then round(100 * per_month.matched_cost_usd / per_month.matched_base_cost_usd, 6)
        end::numeric(38, 6) as price_index

    from per_month

)

select * from final
