-- Every billed component of every usage record (uncached input, cache reads, cache writes, output) priced with the
-- price in effect when the record was used, from fct_price_timeline: one row per record and component with a
-- quantity, its price row and its cost. A component no price covers keeps a null price (named, never zero).
--
-- Which price: the record's provider, canonical model, component and service tier; the record's region, else the
-- global price; the base price, or the prompt-size tier the record falls in (a request's prompt tokens, an
-- Anthropic bucket's context window) when the offering has one. Usage from before the first price the history
-- holds for an offering is priced with that earliest price and marked `before_history`, as is usage priced with an
-- undated price from before the warehouse first saw it.

with

records as (

    select
        records.usage_id,
        records.used_at,
        models.provider,
        models.canonical_model_id,
        records.service_tier,
        records.region,
        case
            when records.context_window = '200k-1M' then 200001
            when records.record_kind = 'request' then records.prompt_tokens
            else 0
        end as prompt_size,
        records.uncached_input_tokens,
        records.cache_read_tokens,
        records.cache_write_5m_tokens,
        records.cache_write_1h_tokens,
        records.output_tokens

    from {{ ref('int_usage_records_unioned') }} as records
    inner join {{ ref('int_usage_models_resolved') }} as models
        on models.provider_as_written is not distinct from records.provider_as_written
        and models.model_as_written is not distinct from records.model_as_written

),

components as (

    select
        records.usage_id,
        records.used_at,
        records.provider,
        records.canonical_model_id,
        records.service_tier,
        records.region,
        records.prompt_size,
        quantities.component,
        quantities.quantity

    from records
    cross join lateral (
        values
            ('input', records.uncached_input_tokens),
            ('cache_read', records.cache_read_tokens),
            ('cache_write_5m', records.cache_write_5m_tokens),
            ('cache_write_1h', records.cache_write_1h_tokens),
            ('output', records.output_tokens)
    ) as quantities (component, quantity)
    where quantities.quantity > 0

),

prices as (

    select
        timeline.provider,
        timeline.canonical_model_id,
        timeline.component,
        timeline.service_tier,
        timeline.condition,
        timeline.region,
        timeline.price_usd,
        timeline.unit,
        timeline.price_history_id,
        coalesce(timeline.valid_from, '-infinity'::timestamptz) as starts_at,
        coalesce(timeline.valid_to, 'infinity'::timestamptz) as ends_at,
        -- Before this, the price is an assumption: an undated price is known from when the warehouse first saw it.
        coalesce(timeline.valid_from, history.first_seen_at) as known_from,
        coalesce(history.above_input_tokens, 0) as above_input_tokens,
        min(coalesce(timeline.valid_from, '-infinity'::timestamptz)) over (
            partition by
                timeline.provider, timeline.canonical_model_id, timeline.component, timeline.service_tier,
                timeline.condition, timeline.region
        ) as offering_starts_at

    from {{ ref('fct_price_timeline') }} as timeline
    inner join {{ ref('fct_price_history') }} as history
        on history.price_history_id = timeline.price_history_id
    where timeline.condition = 'base'
        or (history.above_input_tokens is not null and history.window_start_utc is null)

),

candidates as (

    select distinct on (components.usage_id, components.component)
        components.usage_id,
        components.component,
        components.quantity,
        prices.price_usd,
        prices.unit,
        prices.price_history_id,
        components.used_at < prices.known_from as before_history

    from components
    inner join prices
        on prices.provider = components.provider
        and prices.canonical_model_id = components.canonical_model_id
        and prices.component = components.component
        and prices.service_tier = components.service_tier
        and prices.unit = 'mtok'
        and prices.region in (components.region, 'global')
        and prices.above_input_tokens < components.prompt_size + (case when prices.condition = 'base' then 1 else 0 end)
        and (
            (prices.starts_at <= components.used_at and components.used_at < prices.ends_at)
            or (components.used_at < prices.starts_at and prices.starts_at = prices.offering_starts_at)
        )
    order by
        components.usage_id,
        components.component,
        -- a price in effect at the time, then the earliest price; the record's own region; the highest tier reached
        (prices.starts_at <= components.used_at) desc,
        (prices.region = components.region) desc,
        prices.above_input_tokens desc,
        prices.starts_at

),

final as (

    select
        components.usage_id,
        components.component,
        components.quantity,
        candidates.price_usd,
        candidates.unit,
        candidates.price_history_id,
        coalesce(candidates.before_history, false) as before_history,
        -- Token components are priced per million tokens.
        (components.quantity * candidates.price_usd / 1000000)::numeric(38, 18) as cost_usd

    from components
    left join candidates
        on candidates.usage_id = components.usage_id
        and candidates.component = components.component

)

select * from final
