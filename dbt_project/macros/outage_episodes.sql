{#-
    Outage episodes from runs (islands of failing or succeeding observations of one `partition_by` key): CTEs
    ending in `episodes`. A failing run of at least `min_count` observations is an outage; outages separated by
    fewer than `min_count` succeeding observations (short failing runs between them included) are one episode.

    `runs` names a CTE with the key columns, the boolean `failing`, valid_from (first observation of the run),
    valid_to (first observation of the next run, null for the latest), last_observed_at, observation_count and
    the listed `min_columns`. Each episode has the key, started_at (its first failing observation), ended_at (the
    first succeeding observation after it, null while it lasts), failed_count and succeeded_count (observations
    from start to end), last_observed_at, and the least of each of `min_columns` over its outage runs.
-#}
{% macro outage_episodes(runs, partition_by, min_count, min_columns=[]) -%}
{%- set keys = partition_by | join(', ') -%}
episodes_runs as (

    select
        *,
        sum(case when failing then observation_count else 0 end) over runs_in_order as failed_through,
        sum(case when failing then 0 else observation_count end) over runs_in_order as succeeded_through
    from {{ runs }}
    window runs_in_order as (
        partition by {{ keys }} order by valid_from rows between unbounded preceding and current row
    )

),

episodes_outages as (

    select
        *,
        lag(succeeded_through) over (partition by {{ keys }} order by valid_from) as succeeded_through_previous
    from episodes_runs
    where failing and observation_count >= {{ min_count }}

),

episodes_numbered as (

    select
        *,
        sum(
            case
                when succeeded_through_previous is null then 1
                when succeeded_through - succeeded_through_previous >= {{ min_count }} then 1
                else 0
            end
        ) over (
            partition by {{ keys }} order by valid_from rows between unbounded preceding and current row
        ) as episode_number
    from episodes_outages

),

episodes as (

    select
        {{ keys }},
        min(valid_from) as started_at,
        (array_agg(valid_to order by valid_from desc))[1] as ended_at,
        (max(failed_through) - min(failed_through - observation_count))::bigint as failed_count,
        (max(succeeded_through) - min(succeeded_through))::bigint as succeeded_count,
        max(last_observed_at) as last_observed_at
        {%- for column in min_columns %},
        min({{ column }}) as {{ column }}
        {%- endfor %}
    from episodes_numbered
    group by {{ keys }}, episode_number

)
{%- endmacro %}
