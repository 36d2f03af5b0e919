-- The history of every price of every source: one row per validity interval of a price point.
--
-- Why dlt's scd2 merge and not dbt snapshots: the history is recorded by the load that observed the price list, so
-- every load is captured even when a dbt build is skipped or fails (a snapshot sees only the states that happen to
-- exist when it runs), an unchanged load writes nothing, and a quality gate that blocks a batch before the merge
-- also keeps it from closing intervals. This model only reads that history; it is rebuilt from raw on every run,
-- and nothing in raw is ever deleted.
--
-- Validity, per row (a version of a price point, recorded from its first load to the load that retired it):
--   valid_from = effective_from (00:00 UTC) when the source dates the price (genai-prices: backdated validity);
--                for a row with only an end date (effective_until): its first recording when that is before the end,
--                else null, meaning "in effect since before the source was first recorded, start unknown";
--                otherwise the first load that carried it (recorded_from).
--   valid_to   = effective_until (00:00 UTC, exclusive) when given, or the load that retired the row when that came
--                earlier; otherwise the load that retired it; null while the source's latest load still carries it.
--                An interval retired before it began (an announced price withdrawn) is kept with valid_to = valid_from.
-- Intervals of one series may overlap when a source restates its past (it dates a price it had listed undated);
-- the latest recorded row then wins (price_as_of, fct_price_changes).

{{
    config(
        indexes=[
            {'columns': ['canonical_model_id', 'component', 'service_tier']},
            {'columns': ['provider', 'provider_model_id']},
            {'columns': ['valid_from', 'valid_to']},
            {'columns': ['price_history_id'], 'unique': True},
        ],
        post_hook='analyze {{ this }}',
    )
}}

with

price_points as (

    select * from {{ ref('int_price_points_unioned') }}

),

source_loads as (

    select * from {{ ref('int_price_source_loads') }}

),

validity as (

    select
        price_points.*,
        case
            when price_points.effective_from is not null
                then price_points.effective_from::timestamp at time zone 'UTC'
            when price_points.effective_until is not null
                then case
                    when price_points.recorded_from < price_points.effective_until::timestamp at time zone 'UTC'
                        then price_points.recorded_from
                end
            else price_points.recorded_from
        end as valid_from_stated,
        case
            when price_points.effective_until is not null
                then least(
                    price_points.effective_until::timestamp at time zone 'UTC',
                    coalesce(price_points.recorded_to, 'infinity'::timestamptz)
                )
            else price_points.recorded_to
        end as valid_to_stated

    from price_points

),

final as (

    select
        md5(
            validity.source || '|' || validity.price_hash || '|' || validity.recorded_from::text
        ) as price_history_id,

        -- what is priced
        validity.source,
        validity.provider,
        validity.source_provider,
        validity.source_model_key,
        validity.provider_model_id,
        validity.canonical_model_id,
        validity.model_family,
        validity.is_canonical_alias,
        validity.component,
        validity.service_tier,
        validity.condition,
        validity.above_input_tokens,
        validity.window_start_utc,
        validity.window_end_utc,
        validity.region,

        -- the price
        validity.price_usd,
        validity.unit,
        validity.original_value,
        validity.original_unit,

        -- validity
        validity.valid_from_stated as valid_from,
        case
            when validity.valid_from_stated is not null and validity.valid_to_stated is not null
                then greatest(validity.valid_from_stated, validity.valid_to_stated)
            else validity.valid_to_stated
        end as valid_to,
        validity.effective_from,
        validity.effective_until,
        (
            coalesce(validity.valid_from_stated <= current_timestamp, true)
            and coalesce(current_timestamp < validity.valid_to_stated, true)
        ) as is_current,
        validity.recorded_to is null as is_in_latest_load,

        -- when the source carried it
        validity.recorded_from as first_seen_at,
        case
            when validity.recorded_to is null
                then greatest(source_loads.latest_loaded_at, validity.recorded_from)
            else validity.recorded_to
        end as last_seen_at,
        validity.recorded_to as retired_at,

        -- lineage
        validity.price_hash,
        validity.load_id

    from validity
    left join source_loads
        on validity.source = source_loads.source

)

select * from final
