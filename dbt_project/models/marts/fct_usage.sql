-- One row per usage record (a provider's hourly bucket, a request of a request-log file) with its tokens, its team
-- and its cost priced as of the time of use: each component at the price in effect then (int_usage_price_segments,
-- from fct_price_timeline), so a later price change never rewrites a past cost. `price_version` lists the
-- fct_price_history rows used, so every cost can be explained; `pricing_status` says how far it rests on known prices.
--
-- Team: the first of the record's API key, project, workspace, LiteLLM team, file team and user that the teams file
-- attributes to a team at the time of use (stg_teams__members).
--
-- Incremental: a build prices each source's records fetched since the newest one it holds of that source (skipping
-- those already built as fetched), and prices again the records whose pricing or teams fingerprint
-- (int_usage_fingerprints) changed since they were built (usage_built_state). A
-- restated bucket replaces its row (the same usage_id); a bucket no longer reported (Anthropic's other API read it
-- last) is deleted.
--
-- Statistics at once, with the number of distinct groups int_usage_daily makes: without them the planner guessed
-- a group per record and sorted ten million records on disk instead of hashing them.
--
-- Every join here is a hash join: the planner cannot estimate joins on keys it derives from the union of the
-- sources' views (it guessed one row), and the nested loops it then chose took minutes a million records.

{{
    config(
        materialized='incremental',
        unique_key='usage_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['usage_id'], 'unique': true}, {'columns': ['source', 'fetched_at']}],
        pre_hook='set local enable_nestloop = off',
        post_hook=[
            '{{ delete_unreported_usage_buckets(this) }}',
            '{{ usage_group_statistics(this) }}',
            'analyze {{ this }}',
        ],
    )
}}

{%- set components = [
    ('input', 'uncached_input_tokens'),
    ('cache_read', 'cache_read_tokens'),
    ('cache_write_5m', 'cache_write_5m_tokens'),
    ('cache_write_1h', 'cache_write_1h_tokens'),
    ('output', 'output_tokens'),
] %}
{%- set member_kinds = [
    ('api_key', 'api_key_id'),
    ('project', 'project_id'),
    ('workspace', 'workspace_id'),
    ('litellm_team', 'litellm_team'),
    ('file_team', 'file_team'),
    ('user', 'user_id'),
] %}

with

all_records as (

    select * from {{ ref('int_usage_records_unioned') }}

),

models as (

    select * from {{ ref('int_usage_models_resolved') }}

),

fingerprints as (

    select * from {{ ref('int_usage_fingerprints') }}

),

segments as (

    select * from {{ ref('int_usage_price_segments') }}

),

members as (

    select * from {{ ref('stg_teams__members') }}

),

teams as (

    select * from {{ ref('stg_teams__teams') }}

),

{%- set built = usage_built_state(this, ref('int_usage_fingerprints')) if is_incremental() else {'rebuild_all': true} %}
{% if not built.rebuild_all %}
recently_built as (

    select usage_id, fetched_at
    from {{ this }}
    where {{ usage_fetched_since(built.fetched_from, 'source', 'fetched_at', unbuilt_sources=false) }}

),

records as (

    select all_records.*
    from all_records
    left join recently_built
        on recently_built.usage_id = all_records.usage_id
        and recently_built.fetched_at = all_records.fetched_at
    where (
        {{ usage_fetched_since(built.fetched_from, 'all_records.record_source', 'all_records.fetched_at') }}
        and recently_built.usage_id is null
    )
    {%- if built.stale_keys %}
        or (
            coalesce(all_records.provider_as_written, ''),
            coalesce(all_records.model_as_written, ''),
            all_records.service_tier,
            all_records.region
        ) in (
            {%- for key in built.stale_keys %}
            ({% for value in key %}'{{ value | replace("'", "''") }}'{% if not loop.last %}, {% endif %}{% endfor %})
            {%- if not loop.last %},{% endif %}
            {%- endfor %}
        )
    {%- endif %}

),
{% else %}
records as (

    select * from all_records

),
{% endif %}

resolved as (

    select
        records.*,
        models.provider,
        models.canonical_model_id,
        models.price_region,
        fingerprints.pricing_fingerprint,
        fingerprints.teams_fingerprint,
        case
            when records.context_window = '200k-1M' then 200001
            when records.record_kind = 'request' then records.prompt_tokens
            else 0
        end as prompt_size

    from records
    inner join models
        on models.provider_key = coalesce(records.provider_as_written, '')
        and models.model_key = coalesce(records.model_as_written, '')
        and models.service_tier = records.service_tier
        and models.region = records.region
    inner join fingerprints
        on fingerprints.provider_key = models.provider_key
        and fingerprints.model_key = models.model_key
        and fingerprints.service_tier = models.service_tier
        and fingerprints.region = models.region

),

priced as (

    select
        resolved.*,
        {% for component, _ in components %}
        segments.{{ component }}_price_usd,
        segments.{{ component }}_price_history_id,
        segments.{{ component }}_before_history,
        {% endfor %}
        segments.segment_starts_at is not null as has_prices

    from resolved
    left join segments
        on segments.provider = resolved.provider
        and segments.canonical_model_id = resolved.canonical_model_id
        and segments.service_tier = resolved.service_tier
        and segments.region = resolved.price_region
        and resolved.used_at >= segments.segment_starts_at
        and resolved.used_at < segments.segment_ends_at
        and resolved.prompt_size >= segments.tier_from
        and resolved.prompt_size < segments.tier_to

),

costed as (

    select
        priced.*,
        {% for component, tokens in components %}
        case when priced.{{ tokens }} > 0 then priced.{{ tokens }} * priced.{{ component }}_price_usd / 1000000 end
            as {{ component }}_cost_usd,
        {% endfor %}
        {% for component, tokens in components %}
        (priced.{{ tokens }} > 0)::int{% if not loop.last %} + {% endif %}
        {% endfor %} as components_used,
        {% for component, tokens in components %}
        (priced.{{ tokens }} > 0 and priced.{{ component }}_price_usd is not null)::int{% if not loop.last %} + {% endif %}
        {% endfor %} as components_priced,
        {% for component, tokens in components %}
        (priced.{{ tokens }} > 0 and priced.{{ component }}_before_history){% if not loop.last %} or {% endif %}
        {% endfor %} as before_history,
        concat_ws(
            ',',
            {% for component, tokens in components %}
            case
                when priced.{{ tokens }} > 0 and priced.{{ component }}_price_history_id is not null
                    then '{{ component }}=' || priced.{{ component }}_price_history_id
            end{% if not loop.last %},{% endif %}
            {% endfor %}
        ) as price_version

    from priced

),

attributed as (

    select
        costed.*,
        coalesce(
            {% for kind, column in member_kinds %}
            {{ kind }}_members.team{% if not loop.last %},{% endif %}
            {% endfor %}
        ) as team

    from costed
    {% for kind, column in member_kinds %}
    left join members as {{ kind }}_members
        on {{ kind }}_members.kind = '{{ kind }}'
        and {{ kind }}_members.value = costed.{{ column }}
        and costed.used_at >= {{ kind }}_members.applies_from
        and costed.used_at < {{ kind }}_members.applies_to
    {% endfor %}

),

final as (

    select
        attributed.usage_id,
        attributed.record_source as source,
        attributed.record_id,
        attributed.record_kind,
        attributed.used_at,
        attributed.bucket_end,
        attributed.provider,
        attributed.canonical_model_id,
        attributed.model_as_written,
        attributed.provider_as_written,
        attributed.service_tier,
        attributed.region,
        attributed.context_window,
        attributed.team,
        teams.cost_centre,
        attributed.project_id,
        attributed.workspace_id,
        attributed.api_key_id,
        attributed.user_id,
        attributed.requests,
        attributed.prompt_tokens,
        attributed.uncached_input_tokens,
        attributed.cache_read_tokens,
        attributed.cache_write_5m_tokens,
        attributed.cache_write_1h_tokens,
        attributed.output_tokens,
        attributed.reasoning_tokens,
        {% for component, _ in components %}
        attributed.{{ component }}_cost_usd::numeric(38, 18) as {{ component }}_cost_usd,
        {% endfor %}
        case
            when attributed.components_used = 0 then 0  -- nothing billed: no tokens
            when attributed.components_priced > 0 then
                {% for component, _ in components %}
                coalesce(attributed.{{ component }}_cost_usd, 0){% if not loop.last %} + {% endif %}
                {% endfor %}
        end::numeric(38, 18) as cost_usd,
        nullif(attributed.price_version, '') as price_version,
        attributed.provider_reported_cost_usd,
        (attributed.provider_reported_cost_usd - (
            {% for component, _ in components %}
            coalesce(attributed.{{ component }}_cost_usd, 0){% if not loop.last %} + {% endif %}
            {% endfor %}
        ))::numeric(38, 18) as reported_cost_difference_usd,
        case
            when attributed.components_used = 0 then 'priced'
            when attributed.components_priced = 0 then 'unpriced_model'
            when attributed.components_priced < attributed.components_used then 'partial'
            when attributed.before_history then 'priced_before_history'
            else 'priced'
        end as pricing_status,
        attributed.fetched_at,
        attributed.pricing_fingerprint,
        attributed.teams_fingerprint

    from attributed
    left join teams on teams.team = attributed.team

)

select * from final
