-- What an incremental build of fct_usage starts from, read from the table before the build (so the planner sees
-- literals, not subqueries it cannot estimate):
-- `fetched_from`, per source, the fetch time of the newest record built: the build looks at the records fetched
-- since (a source's loads run one at a time, so a later fetch is a later commit; a load seen half-committed is
-- finished by the next build, which skips the records already built as fetched);
-- `stale_keys`, the record keys (provider and model as written, service tier, region) built with a pricing or teams
-- fingerprint that int_usage_fingerprints no longer gives them;
-- `rebuild_all` when the table predates these columns (built by an earlier ModelAtlas): every record is built again.
{% macro usage_built_state(relation, fingerprints) -%}
    {%- set state = {'fetched_from': {}, 'stale_keys': [], 'rebuild_all': false} %}
    {%- if execute %}
        {%- set columns = adapter.get_columns_in_relation(relation) | map(attribute='name') | list %}
        {%- if 'fetched_at' not in columns or 'teams_fingerprint' not in columns %}
            {%- do state.update({'rebuild_all': true}) %}
            {{- return(state) }}
        {%- endif %}
        {%- set newest_sql %}
            -- A loose scan of fct_usage's (source, fetched_at) index: a few index probes instead of reading the table.
            with recursive built_sources as (
                select min(source) as source from {{ relation }}
                union all
                select (select min(source) from {{ relation }} where source > built_sources.source)
                from built_sources
                where built_sources.source is not null
            )
            select
                source,
                (select max(fetched_at) from {{ relation }} as built where built.source = built_sources.source)::text
            from built_sources
            where source is not null
        {%- endset %}
        {%- for source, fetched_from in run_query(newest_sql).rows %}
            {%- do state.fetched_from.update({source: fetched_from}) %}
        {%- endfor %}
        {%- set stale_sql %}
            select distinct
                coalesce(built.provider_as_written, ''),
                coalesce(built.model_as_written, ''),
                built.service_tier,
                built.region
            from {{ relation }} as built
            left join {{ fingerprints }} as fingerprints
                on fingerprints.provider_key = coalesce(built.provider_as_written, '')
                and fingerprints.model_key = coalesce(built.model_as_written, '')
                and fingerprints.service_tier = built.service_tier
                and fingerprints.region = built.region
            where built.pricing_fingerprint is distinct from fingerprints.pricing_fingerprint
                or built.teams_fingerprint is distinct from fingerprints.teams_fingerprint
        {%- endset %}
        {%- do state.update({'stale_keys': run_query(stale_sql).rows | list}) %}
    {%- endif %}
    {{- return(state) }}
{%- endmacro %}

-- The records of a source fetched at or after `fetched_from[source]`; with `unbuilt_sources`, also every record of a
-- source none of whose records is built yet.
{% macro usage_fetched_since(fetched_from, source_column, fetched_column, unbuilt_sources=true) -%}
    (
    {%- for source, since in fetched_from.items() %}
        ({{ source_column }} = '{{ source }}' and {{ fetched_column }} >= '{{ since }}'::timestamptz) or
    {%- endfor %}
    {%- if unbuilt_sources %}
        {{ source_column }} not in ('{{ (fetched_from.keys() | list + ['']) | join("', '") }}')
    {%- else %}
        false
    {%- endif %}
    )
{%- endmacro %}
