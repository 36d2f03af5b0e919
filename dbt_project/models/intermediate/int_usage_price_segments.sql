-- The token prices of every offering usage can be priced with, cut into segments of time and prompt size in which
-- every component's price is constant: one row per (provider, canonical model, service tier, region, segment, prompt
-- tier) with the price per million tokens of uncached input, cache reads, 5-minute and 1-hour cache writes and
-- output, and the fct_price_history row of each. A usage record then finds its prices with one join.
--
-- Why segments: pricing each record component by component (a join of tens of millions of component rows to
-- the price intervals, then picking one per component) took 30 s a million records. The offerings are few and
-- their prices change rarely, so the work belongs here, on thousands of rows.
--
-- Which price: a component's price in effect at the segment's start (fct_price_timeline: one price at a time per
-- offering, condition and region), in the highest prompt tier the segment's tier reaches (`base` is tier 0; `input >
-- 200000 tokens` is 200001). Before the first price the history holds for a component, its earliest price applies:
-- such a segment, and one before an undated price was first seen, is `before_history`.

{%- set offering = ['provider', 'canonical_model_id', 'service_tier', 'region'] %}
{%- set components = ['input', 'cache_read', 'cache_write_5m', 'cache_write_1h', 'output'] %}

-- Statistics at once: fct_usage joins tens of millions of records to this small table, and without them the planner
-- guessed one row and chose nested loops (minutes instead of seconds).
{{ config(post_hook=['analyze {{ this }}']) }}

with

prices as (

    select
        timeline.provider,
        timeline.canonical_model_id,
        timeline.service_tier,
        timeline.region,
        timeline.component,
        -- `input > 200000 tokens` applies from a prompt of 200,001 tokens.
        coalesce(history.above_input_tokens + 1, 0) as tier_from,
        timeline.price_usd,
        timeline.price_history_id,
        coalesce(timeline.valid_from, '-infinity'::timestamptz) as starts_at,
        coalesce(timeline.valid_to, 'infinity'::timestamptz) as ends_at,
        -- Before this, the price is an assumption: an undated price is known from when the warehouse first saw it.
        coalesce(timeline.valid_from, history.first_seen_at) as known_from

    from {{ ref('fct_price_timeline') }} as timeline
    inner join {{ ref('fct_price_history') }} as history
        on history.price_history_id = timeline.price_history_id
    where timeline.unit = 'mtok'
        and timeline.component in ('{{ components | join("', '") }}')
        and (
            timeline.condition = 'base'
            or (history.above_input_tokens is not null and history.window_start_utc is null)
        )

),

first_prices as (

    -- The earliest price of each component and tier: what applies before the history starts.
    select distinct on ({{ offering | join(', ') }}, component, tier_from)
        *
    from prices
    order by {{ offering | join(', ') }}, component, tier_from, starts_at

),

boundaries as (

    select {{ offering | join(', ') }}, '-infinity'::timestamptz as boundary_at from prices
    union
    select {{ offering | join(', ') }}, starts_at from prices
    union
    select {{ offering | join(', ') }}, ends_at from prices where ends_at < 'infinity'
    union
    select {{ offering | join(', ') }}, known_from from prices where known_from is not null

),

segments as (

    select
        boundaries.*,
        coalesce(
            lead(boundary_at) over (partition by {{ offering | join(', ') }} order by boundary_at),
            'infinity'::timestamptz
        ) as segment_ends_at

    from boundaries

),

tiers as (

    select distinct {{ offering | join(', ') }}, tier_from from prices
    union
    select distinct {{ offering | join(', ') }}, 0 from prices

),

tier_ranges as (

    select
        tiers.*,
        coalesce(
            lead(tier_from) over (partition by {{ offering | join(', ') }} order by tier_from),
            9223372036854775807
        ) as tier_to

    from tiers

),

segment_tiers as (

    select
        segments.*,
        tier_ranges.tier_from,
        tier_ranges.tier_to

    from segments
    inner join tier_ranges
        on {% for column in offering %}tier_ranges.{{ column }} = segments.{{ column }}{% if not loop.last %}
        and {% endif %}{% endfor %}

),

component_prices as (

    -- Per segment, tier and component: the price in effect at the segment's start in the highest tier reached,
    -- else (the segment is older than the history) the component's earliest price.
    select distinct on (
        {% for column in offering %}segment_tiers.{{ column }}, {% endfor %}segment_tiers.boundary_at,
        segment_tiers.tier_from, prices.component
    )
        {% for column in offering %}segment_tiers.{{ column }}, {% endfor %}
        segment_tiers.boundary_at,
        segment_tiers.tier_from,
        prices.component,
        prices.price_usd,
        prices.price_history_id,
        segment_tiers.boundary_at < prices.known_from as before_history

    from segment_tiers
    inner join prices
        on {% for column in offering %}prices.{{ column }} = segment_tiers.{{ column }}
        and {% endfor %}prices.tier_from <= segment_tiers.tier_from
        and prices.starts_at <= segment_tiers.boundary_at
        and segment_tiers.boundary_at < prices.ends_at
    order by
        {% for column in offering %}segment_tiers.{{ column }}, {% endfor %}segment_tiers.boundary_at,
        segment_tiers.tier_from, prices.component, prices.tier_from desc

),

earliest_prices as (

    select
        {% for column in offering %}segment_tiers.{{ column }}, {% endfor %}
        segment_tiers.boundary_at,
        segment_tiers.tier_from,
        first_prices.component,
        first_prices.price_usd,
        first_prices.price_history_id,
        true as before_history

    from segment_tiers
    inner join first_prices
        on {% for column in offering %}first_prices.{{ column }} = segment_tiers.{{ column }}
        and {% endfor %}first_prices.tier_from = 0
        and segment_tiers.boundary_at < first_prices.starts_at

),

chosen as (

    select distinct on ({{ offering | join(', ') }}, boundary_at, tier_from, component)
        *
    from (
        select *, 1 as preference from component_prices
        union all
        select *, 2 from earliest_prices
    ) as candidates
    order by {{ offering | join(', ') }}, boundary_at, tier_from, component, preference

),

final as (

    select
        {% for column in offering %}segment_tiers.{{ column }}, {% endfor %}
        segment_tiers.boundary_at as segment_starts_at,
        segment_tiers.segment_ends_at,
        segment_tiers.tier_from,
        segment_tiers.tier_to,
        {% for component in components %}
        max(chosen.price_usd) filter (where chosen.component = '{{ component }}') as {{ component }}_price_usd,
        max(chosen.price_history_id) filter (where chosen.component = '{{ component }}')
            as {{ component }}_price_history_id,
        coalesce(bool_or(chosen.before_history) filter (where chosen.component = '{{ component }}'), false)
            as {{ component }}_before_history,
        {% endfor %}
        count(chosen.component) as components_priced

    from segment_tiers
    left join chosen
        on {% for column in offering %}chosen.{{ column }} = segment_tiers.{{ column }}
        and {% endfor %}chosen.boundary_at = segment_tiers.boundary_at
        and chosen.tier_from = segment_tiers.tier_from
    group by {% for column in offering %}segment_tiers.{{ column }}, {% endfor %}segment_tiers.boundary_at,
        segment_tiers.segment_ends_at, segment_tiers.tier_from, segment_tiers.tier_to

)

select * from final
