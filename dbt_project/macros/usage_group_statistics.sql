-- fct_usage's extended statistics on the grouping of int_usage_daily (the same expressions): PostgreSQL estimates
-- the groups of several columns as if they were independent (millions where there are a few hundred thousand)
-- unless it has statistics on them together.
{% macro usage_group_statistics(relation) -%}
    create statistics if not exists {{ relation.schema }}.{{ relation.identifier }}_daily_groups (ndistinct)
    on ((used_at at time zone 'UTC')::date), (coalesce(team, 'unattributed')), cost_centre, api_key_id, provider,
        canonical_model_id
    from {{ relation }}
{%- endmacro %}
