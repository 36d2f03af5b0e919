-- What each price change would do to the organisation's bill: for every change in fct_price_changes of a price the
-- organisation paid in the last 30 days, that usage's cost at the prices in effect when it was used (its as-of
-- cost, int_usage_components_priced) against its cost had all of it been billed at the changed price.
--
-- Window: the 30 UTC days ending with the as-of day, that day included (`usage_as_of`, a date, replaces today), as
-- in mart_usage_patterns.
--
-- Which usage a change touches: the priced usage components of the change's (provider, canonical model, component,
-- service tier) whose price came from the same condition and region (the fct_price_history row that priced them,
-- named in fct_usage.price_version): a change to a prompt-size tier or to a regional price says nothing of usage
-- billed at the base or the global price, so applying it there would misstate the impact. A component no price
-- covers has no as-of cost to compare and is left out. Every change of such a series is listed (from any price
-- source, whenever it took effect), so a future dated change can be sized before it applies.
--
-- Would-have cost: quantity * new price / 1e6 (token components are priced per million tokens, unit `mtok`; usage
-- is only ever priced in `mtok`).

{%- set as_of = usage_as_of() %}

with

usage_window as (

    select
        {{ as_of }} - 29 as window_start,
        {{ as_of }} as window_end

),

components as (

    -- The window's records only: the filter on used_at reaches fct_usage's scan below the unpivot.
    select
        components.provider,
        components.canonical_model_id,
        components.component,
        components.service_tier,
        components.quantity,
        components.cost_usd,
        -- The fct_price_history row that priced the component, from the record's price_version
        -- (`input=<price_history_id>,output=...`): its condition and region say which series priced it.
        (regexp_match(components.price_version, '(?:^|,)' || components.component || '=([^,]+)'))[1]
            as price_history_id

    from {{ ref('int_usage_components_priced') }} as components
    where {{ in_usage_window('components.used_at') }}
        and components.cost_usd is not null

),

history as (

    select * from {{ ref('fct_price_history') }}

),

changes as (

    select * from {{ ref('fct_price_changes') }}

),

used as (

    select
        components.provider,
        components.canonical_model_id,
        components.component,
        components.service_tier,
        history.condition,
        history.region,
        count(*) as usage_records,
        sum(components.quantity) as quantity,
        sum(components.cost_usd) as as_of_cost_usd

    from components
    inner join history on history.price_history_id = components.price_history_id
    where history.unit = 'mtok'
    group by 1, 2, 3, 4, 5, 6

),

final as (

    select
        changes.price_change_id,

        -- the change
        changes.source,
        changes.provider,
        changes.source_model_key,
        changes.canonical_model_id,
        changes.component,
        changes.service_tier,
        changes.condition,
        changes.region,
        changes.unit,
        changes.old_price_usd,
        changes.new_price_usd,
        changes.price_change_pct,
        changes.change_direction,
        changes.changed_at,
        changes.detected_at,

        -- the usage it touches
        usage_window.window_start,
        usage_window.window_end,
        used.usage_records,
        used.quantity,
        used.as_of_cost_usd::numeric(38, 18) as as_of_cost_usd,
        (used.quantity * changes.new_price_usd / 1000000)::numeric(38, 18) as would_have_cost_usd,
        (used.quantity * changes.new_price_usd / 1000000 - used.as_of_cost_usd)::numeric(38, 18)
            as cost_difference_usd

    from changes
    inner join used
        on used.provider = changes.provider
        and used.canonical_model_id = changes.canonical_model_id
        and used.component = changes.component
        and used.service_tier = changes.service_tier
        and used.condition = changes.condition
        and used.region = changes.region
    cross join usage_window
    where changes.unit = 'mtok'

)

select * from final
