{#-
    The staging model of a price source's `price_points` table: every recorded version of its price points (dlt SCD2
    rows) in the price-point vocabulary the sources share, `source` / `renamed` CTEs. dlt's validity columns are
    renamed to what they are: when a load first and last carried the version. `source_name` is the dbt source
    (`genai_prices`, `litellm`, `openrouter`); each stg_<source>__price_points model is this macro and nothing else,
    so the three stay identical in columns and types.
-#}
{% macro price_points_staging(source_name) -%}
with

source as (

    select * from {{ source(source_name, 'price_points') }}

),

renamed as (

    select
        -- ids
        source::text as source,
        source_provider::text as source_provider,
        source_model_key::text as source_model_key,
        provider_model_id::text as provider_model_id,
        price_hash::text as price_hash,

        -- what is priced, and when it applies
        component::text as component,
        service_tier::text as service_tier,
        condition::text as condition,
        above_input_tokens::bigint as above_input_tokens,
        window_start_utc::text as window_start_utc,
        window_end_utc::text as window_end_utc,
        region::text as region,

        -- price: exact numerics, never floats
        unit::text as unit,
        price_usd::numeric(38, 18) as price_usd,
        original_value::text as original_value,
        original_unit::text as original_unit,

        -- dated validity the source states
        effective_from::date as effective_from,
        effective_until::date as effective_until,

        -- dlt scd2 bookkeeping
        _dlt_valid_from::timestamptz as recorded_from,
        _dlt_valid_to::timestamptz as recorded_to,
        _dlt_load_id::text as load_id,
        _dlt_id::text as price_point_id

    from source

)

select * from renamed
{%- endmacro %}
