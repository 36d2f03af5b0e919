-- Per provider, capability tier and month: the median, minimum and maximum input and output price of the models
-- priced at the month's end (int_model_prices_monthly), the cheapest model, the change against the previous month,
-- and the month's basket price index (mart_price_index) so BI tools need no join.

{{
    config(
        indexes=[
            {'columns': ['provider', 'capability_tier', 'price_month'], 'unique': True},
            {'columns': ['price_month']},
        ],
    )
}}

with

model_prices as (

    select
        *,
        -- 3 input : 1 output, the usual blend; only when both are priced.
        (3 * input_price_per_mtok + output_price_per_mtok) / 4 as blended_price_per_mtok

    from {{ ref('int_model_prices_monthly') }}

),

price_index as (

    select * from {{ ref('mart_price_index') }}

),

aggregated as (

    select
        provider,
        coalesce(capability_tier, 'unclassified') as capability_tier,
        price_month,
        count(*) as model_count,
        array_agg(input_price_per_mtok order by input_price_per_mtok)
            filter (where input_price_per_mtok is not null) as input_prices,
        array_agg(output_price_per_mtok order by output_price_per_mtok)
            filter (where output_price_per_mtok is not null) as output_prices,
        min(input_price_per_mtok) as min_input_price_per_mtok,
        max(input_price_per_mtok) as max_input_price_per_mtok,
        min(output_price_per_mtok) as min_output_price_per_mtok,
        max(output_price_per_mtok) as max_output_price_per_mtok,
        (array_agg(canonical_model_id order by blended_price_per_mtok, canonical_model_id)
            filter (where blended_price_per_mtok is not null))[1] as cheapest_model_id,
        min(blended_price_per_mtok) as cheapest_blended_price_per_mtok

    from model_prices
    group by 1, 2, 3

),

medians as (

    select
        aggregated.*,
        (
            (input_prices[(cardinality(input_prices) + 1) / 2] + input_prices[(cardinality(input_prices) + 2) / 2]) / 2
        )::numeric(38, 18) as median_input_price_per_mtok,
        (
            (output_prices[(cardinality(output_prices) + 1) / 2] + output_prices[(cardinality(output_prices) + 2) / 2])
            / 2
        )::numeric(38, 18) as median_output_price_per_mtok

    from aggregated

),

with_previous as (

    select
        medians.*,
        lag(price_month) over series as previous_month,
        lag(median_input_price_per_mtok) over series as previous_median_input,
        lag(median_output_price_per_mtok) over series as previous_median_output

    from medians
    window series as (partition by provider, capability_tier order by price_month)

),

final as (

    select
        with_previous.provider,
        with_previous.capability_tier,
        with_previous.price_month,
        with_previous.model_count,
        with_previous.median_input_price_per_mtok,
        with_previous.min_input_price_per_mtok::numeric(38, 18) as min_input_price_per_mtok,
        with_previous.max_input_price_per_mtok::numeric(38, 18) as max_input_price_per_mtok,
        with_previous.median_output_price_per_mtok,
        with_previous.min_output_price_per_mtok::numeric(38, 18) as min_output_price_per_mtok,
        with_previous.max_output_price_per_mtok::numeric(38, 18) as max_output_price_per_mtok,
        with_previous.cheapest_model_id,
        with_previous.cheapest_blended_price_per_mtok::numeric(38, 18) as cheapest_blended_price_per_mtok,
        -- Against the month before only; a tier absent that month has no change.
        case
            when with_previous.previous_month = with_previous.price_month - interval '1 month'
                and with_previous.previous_median_input > 0
                then round(
                    100 * (with_previous.median_input_price_per_mtok - with_previous.previous_median_input)
                    / with_previous.previous_median_input,
                    6
                )
        end::numeric(38, 6) as median_input_change_pct,
        case
            when with_previous.previous_month = with_previous.price_month - interval '1 month'
                and with_previous.previous_median_output > 0
                then round(
                    100 * (with_previous.median_output_price_per_mtok - with_previous.previous_median_output)
                    / with_previous.previous_median_output,
                    6
                )
        end::numeric(38, 6) as median_output_change_pct,
        price_index.price_index::numeric(38, 6) as price_index

    from with_previous
    left join price_index
        on with_previous.price_month = price_index.price_month

)

select * from final
