-- Per team, the shape of its last 30 days of use: volume and cost, when it calls (hour-of-day and weekday
-- profiles), how much of its prompt the cache serves, how much it writes per token read, where its money goes (the
-- three costliest models) and how much of it rides on models about to go away. One row per team with usage in the
-- window (coalesce(team, 'unattributed')).
--
-- Window: the 30 UTC days ending with the as-of day, that day included (`usage_as_of`, a date, replaces today, for
-- replays and tests, as in mart_budget_status). Costs are fct_usage's, priced as of the time of use.
--
-- Profiles are JSON arrays of shares (summing to 1, each rounded to 6 decimals), in UTC: hour of day 0..23 (24
-- entries, index 0 = 00:00-00:59) and ISO weekday Monday..Sunday (7 entries, index 0 = Monday). A bucket counts
-- at the hour it starts. Each comes as shares of requests (null when the team's records count no requests: some
-- provider reports count tokens only) and of tokens (prompt + output).
--
-- Retiring models: a record's model counts as deprecated or retiring when, as the catalogs know it today, either
--   - its retirement date is on or before the as-of day + 90 days (a past date included: already retired). The date
--     is the model id as written's: its provider catalog's (dim_models, which falls back to LiteLLM's map), else
--     LiteLLM's map for the same provider; else the offering's (provider, canonical model) date, from
--     mart_model_comparison (the catalog representative's, else LiteLLM's); or
--   - genai-prices marks the model as deprecated (the id as written, else the canonical id; the flag has no date).
-- The catalogs keep no history of announcements, so a replay uses today's knowledge of the dates.

{%- set as_of = usage_as_of() %}
{%- set retiring_horizon_days = 90 %}
{%- set profiles = [('hour_of_day', 0, 23), ('weekday', 1, 7)] %}

with

usage_window as (

    select
        {{ as_of }} - 29 as window_start,
        {{ as_of }} as window_end

),

catalog_ids as (

    select provider, lower(provider_model_id) as model_id, min(deprecation_date) as deprecation_date
    from {{ ref('dim_models') }}
    group by 1, 2

),

litellm_ids as (

    select provider, lower(provider_model_id) as model_id, min(deprecation_date) as deprecation_date
    from {{ ref('int_litellm_models_identified') }}
    group by 1, 2

),

offerings as (

    select provider, canonical_model_id, deprecation_date
    from {{ ref('mart_model_comparison') }}

),

registry_ids as (

    select provider, lower(provider_model_id) as model_id, bool_or(is_deprecated) as is_deprecated
    from {{ ref('int_genai_prices_models_identified') }}
    group by 1, 2

),

usage as (

    select
        coalesce(records.team, 'unattributed') as team,
        records.provider,
        records.canonical_model_id,
        extract(hour from records.used_at at time zone 'UTC')::int as hour_of_day,
        extract(isodow from records.used_at at time zone 'UTC')::int as weekday,
        records.requests,
        coalesce(records.prompt_tokens, 0) as prompt_tokens,
        coalesce(records.cache_read_tokens, 0) as cache_read_tokens,
        coalesce(records.output_tokens, 0) as output_tokens,
        coalesce(records.prompt_tokens, 0) + coalesce(records.output_tokens, 0) as tokens,
        records.cost_usd,
        coalesce(
            coalesce(registry_exact.is_deprecated, registry_canonical.is_deprecated, false)
            or coalesce(catalog_ids.deprecation_date, litellm_ids.deprecation_date, offerings.deprecation_date)
                <= usage_window.window_end + {{ retiring_horizon_days }},
            false
        ) as is_retiring

    from {{ ref('fct_usage') }} as records
    cross join usage_window
    left join catalog_ids
        on catalog_ids.provider = records.provider
        and catalog_ids.model_id = lower(records.model_as_written)
    left join litellm_ids
        on litellm_ids.provider = records.provider
        and litellm_ids.model_id = lower(records.model_as_written)
    left join offerings
        on offerings.provider = records.provider
        and offerings.canonical_model_id = records.canonical_model_id
    left join registry_ids as registry_exact
        on registry_exact.provider = records.provider
        and registry_exact.model_id = lower(records.model_as_written)
    left join registry_ids as registry_canonical
        on registry_canonical.provider = records.provider
        and registry_canonical.model_id = records.canonical_model_id
    -- A range on used_at itself (not on its day): the scan filters on it.
    where {{ in_usage_window('records.used_at') }}

),

team_totals as (

    select
        team,
        count(*) as usage_records,
        sum(requests) as requests,
        sum(prompt_tokens) as prompt_tokens,
        sum(cache_read_tokens) as cache_read_tokens,
        sum(output_tokens) as output_tokens,
        sum(tokens) as tokens,
        sum(cost_usd) as cost_usd,
        count(*) filter (where cost_usd is null) as unpriced_records,
        coalesce(sum(cost_usd) filter (where is_retiring), 0) as retiring_cost_usd

    from usage
    group by team

),

{% for profile, first_slot, last_slot in profiles %}
{{ profile }}_slots as (

    select team, {{ profile }} as slot, sum(requests) as requests, sum(tokens) as tokens
    from usage
    group by 1, 2

),

{{ profile }}_profiles as (

    -- Every slot of the cycle, the empty ones at 0, so that the array's index is the slot.
    select
        team_totals.team,
        jsonb_agg(
            round(coalesce({{ profile }}_slots.requests, 0)::numeric / nullif(team_totals.requests, 0), 6)
            order by slots.slot
        ) as request_shares,
        jsonb_agg(
            round(coalesce({{ profile }}_slots.tokens, 0)::numeric / nullif(team_totals.tokens, 0), 6)
            order by slots.slot
        ) as token_shares

    from team_totals
    cross join generate_series({{ first_slot }}, {{ last_slot }}) as slots (slot)
    left join {{ profile }}_slots
        on {{ profile }}_slots.team = team_totals.team
        and {{ profile }}_slots.slot = slots.slot
    group by team_totals.team

),

{% endfor %}
model_costs as (

    select
        team,
        provider,
        canonical_model_id,
        sum(cost_usd) as cost_usd,
        row_number() over (
            partition by team order by sum(cost_usd) desc, provider, canonical_model_id
        ) as cost_rank

    from usage
    -- An unpriced model has no cost to rank (its cost is unknown, never zero).
    where cost_usd is not null
    group by team, provider, canonical_model_id

),

top_models as (

    select
        model_costs.team,
        jsonb_agg(
            jsonb_build_object(
                'model', model_costs.canonical_model_id,
                'provider', model_costs.provider,
                'cost_usd', round(model_costs.cost_usd, 6),
                'share', round(model_costs.cost_usd / nullif(team_totals.cost_usd, 0), 6)
            )
            order by model_costs.cost_rank
        ) as top_models

    from model_costs
    inner join team_totals on team_totals.team = model_costs.team
    where model_costs.cost_rank <= 3
    group by model_costs.team

),

final as (

    select
        team_totals.team,
        usage_window.window_start,
        usage_window.window_end,
        team_totals.usage_records,
        team_totals.requests,
        team_totals.prompt_tokens,
        team_totals.cache_read_tokens,
        team_totals.output_tokens,
        team_totals.cost_usd::numeric(38, 18) as cost_usd,
        team_totals.unpriced_records,
        case when team_totals.requests > 0 then hour_of_day_profiles.request_shares end as hour_of_day_request_shares,
        case when team_totals.tokens > 0 then hour_of_day_profiles.token_shares end as hour_of_day_token_shares,
        case when team_totals.requests > 0 then weekday_profiles.request_shares end as weekday_request_shares,
        case when team_totals.tokens > 0 then weekday_profiles.token_shares end as weekday_token_shares,
        round(team_totals.cache_read_tokens::numeric / nullif(team_totals.prompt_tokens, 0), 6) as cache_hit_share,
        round(team_totals.output_tokens::numeric / nullif(team_totals.prompt_tokens, 0), 6) as output_to_input_ratio,
        coalesce(top_models.top_models, '[]'::jsonb) as top_models,
        case when team_totals.cost_usd is not null then team_totals.retiring_cost_usd end::numeric(38, 18)
            as retiring_cost_usd,
        round(team_totals.retiring_cost_usd / nullif(team_totals.cost_usd, 0), 6) as retiring_cost_share

    from team_totals
    cross join usage_window
    inner join hour_of_day_profiles on hour_of_day_profiles.team = team_totals.team
    inner join weekday_profiles on weekday_profiles.team = team_totals.team
    left join top_models on top_models.team = team_totals.team

)

select * from final
