-- One row per usage record (a provider's hourly bucket, a request of a request-log file) with its tokens, its team
-- and its cost priced as of the time of use: each component at the price in effect then (fct_price_timeline), so
-- a later price change never rewrites a past cost. `price_version` lists the fct_price_history rows used, so every
-- cost can be explained; `pricing_status` says how far the cost rests on known prices.
--
-- Team: the first of the record's API key, project, workspace, LiteLLM team, file team and user that the teams file
-- attributes to a team at the time of use (stg_teams__members).

with

records as (

    select * from {{ ref('int_usage_records_unioned') }}

),

models as (

    select * from {{ ref('int_usage_models_resolved') }}

),

components as (

    select * from {{ ref('int_usage_components_priced') }}

),

members as (

    select * from {{ ref('stg_teams__members') }}

),

teams as (

    select * from {{ ref('stg_teams__teams') }}

),

costs as (

    select
        usage_id,
        sum(cost_usd) as cost_usd,
        count(*) as components,
        count(price_history_id) as components_priced,
        bool_or(before_history) as before_history,
        string_agg(component || '=' || price_history_id, ',' order by component) as price_version

    from components
    group by usage_id

),

attributed as (

    select
        records.usage_id,
        (
            select members.team
            from members
            where records.used_at >= members.applies_from
                and records.used_at < members.applies_to
                and (members.kind, members.value) in (
                    ('api_key', records.api_key_id),
                    ('project', records.project_id),
                    ('workspace', records.workspace_id),
                    ('litellm_team', records.litellm_team),
                    ('file_team', records.file_team),
                    ('user', records.user_id)
                )
            order by array_position(
                array['api_key', 'project', 'workspace', 'litellm_team', 'file_team', 'user'], members.kind
            )
            limit 1
        ) as team

    from records

),

final as (

    select
        records.usage_id,
        records.record_source as source,
        records.record_id,
        records.record_kind,
        records.used_at,
        records.bucket_end,
        models.provider,
        models.canonical_model_id,
        records.model_as_written,
        records.provider_as_written,
        records.service_tier,
        records.region,
        records.context_window,
        attributed.team,
        teams.cost_centre,
        records.project_id,
        records.workspace_id,
        records.api_key_id,
        records.user_id,
        records.requests,
        records.prompt_tokens,
        records.uncached_input_tokens,
        records.cache_read_tokens,
        records.cache_write_5m_tokens,
        records.cache_write_1h_tokens,
        records.output_tokens,
        records.reasoning_tokens,
        case
            when costs.usage_id is null then 0  -- nothing billed: no tokens
            when costs.components_priced > 0 then costs.cost_usd
        end::numeric(38, 18) as cost_usd,
        costs.price_version,
        records.provider_reported_cost_usd,
        records.provider_reported_cost_usd - costs.cost_usd as reported_cost_difference_usd,
        case
            when costs.usage_id is null then 'priced'  -- nothing billed: zero tokens
            when costs.components_priced = 0 then 'unpriced_model'
            when costs.components_priced < costs.components then 'partial'
            when costs.before_history then 'priced_before_history'
            else 'priced'
        end as pricing_status

    from records
    inner join models
        on models.provider_as_written is not distinct from records.provider_as_written
        and models.model_as_written is not distinct from records.model_as_written
    left join costs on costs.usage_id = records.usage_id
    left join attributed on attributed.usage_id = records.usage_id
    left join teams on teams.team = attributed.team

)

select * from final
