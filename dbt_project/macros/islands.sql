{#-
    Gaps and islands over a time series: CTEs ending in `islands`, one row per run of consecutive observations
    (ordered by `observed_at`) of one `partition_by` key that share `state`; a change of state opens a new island.

    `observations` names a CTE with the key columns, `state`, `observed_at` and the listed columns. Each island has
    the key, `state`, valid_from (its first observation), next_valid_from (the next island's valid_from, null for
    the latest), last_observed_at, observation_count, each of `first_columns` as of its first observation, each of
    `last_columns` as of its latest, and the least of each of `min_columns`.

    Incremental: the latest island of every key is read back from the model itself and continued with the
    observations after it, so a run reads only what arrived since the last one (`status_lookback_hours` before the
    newest observation seen bounds the scan: rows that arrive later than that need a full refresh). The model's
    unique key must be its key and valid_from, which an island keeps as it grows.
-#}
{% macro islands(observations, partition_by, state, first_columns=[], last_columns=[], min_columns=[]) -%}
{%- set keys = partition_by | join(', ') -%}
{%- set carried = first_columns + last_columns + min_columns -%}
{% if is_incremental() %}
islands_previous as (

    select distinct on ({{ keys }})
        {{ keys }},
        {{ state }},
        {% for column in carried %}{{ column }},
        {% endfor %}valid_from,
        last_observed_at,
        observation_count
    from {{ this }}
    order by {{ keys }}, valid_from desc

),

islands_scan as (

    select
        coalesce(
            max(last_observed_at) - interval '{{ var("status_lookback_hours") }} hours', '-infinity'::timestamptz
        ) as scan_from
    from islands_previous

),

islands_points as (

    select
        {{ keys }},
        {{ state }},
        {% for column in carried %}{{ column }},
        {% endfor %}valid_from as point_at,
        last_observed_at,
        observation_count
    from islands_previous

    union all

    select
        {% for key in partition_by %}observations.{{ key }},
        {% endfor %}observations.{{ state }},
        {% for column in carried %}observations.{{ column }},
        {% endfor %}observations.observed_at as point_at,
        observations.observed_at as last_observed_at,
        1::bigint as observation_count
    from {{ observations }} as observations
    left join islands_previous
        on {% for key in partition_by %}observations.{{ key }} = islands_previous.{{ key }}{{ ' and ' if not loop.last }}{% endfor %}
    where observations.observed_at > (select scan_from from islands_scan)
        and (islands_previous.last_observed_at is null or observations.observed_at > islands_previous.last_observed_at)

),
{% else %}
islands_points as (

    select
        {{ keys }},
        {{ state }},
        {% for column in carried %}{{ column }},
        {% endfor %}observed_at as point_at,
        observed_at as last_observed_at,
        1::bigint as observation_count
    from {{ observations }}

),
{% endif %}

islands_changes as (

    select
        *,
        case when lag({{ state }}) over points_in_order is not distinct from {{ state }} then 0 else 1 end
            as opens_island
    from islands_points
    window points_in_order as (partition by {{ keys }} order by point_at, last_observed_at)

),

islands_numbered as (

    select
        *,
        sum(opens_island) over (
            partition by {{ keys }} order by point_at, last_observed_at rows between unbounded preceding and current row
        ) as island_number
    from islands_changes

),

islands_grouped as (

    select
        {{ keys }},
        {{ state }},
        min(point_at) as valid_from,
        max(last_observed_at) as last_observed_at,
        sum(observation_count)::bigint as observation_count
        {%- for column in first_columns %},
        (array_agg({{ column }} order by point_at))[1] as {{ column }}
        {%- endfor %}
        {%- for column in last_columns %},
        (array_agg({{ column }} order by last_observed_at desc))[1] as {{ column }}
        {%- endfor %}
        {%- for column in min_columns %},
        min({{ column }}) as {{ column }}
        {%- endfor %}
    from islands_numbered
    group by {{ keys }}, island_number, {{ state }}

),

islands as (

    select
        *,
        lead(valid_from) over (partition by {{ keys }} order by valid_from) as next_valid_from
    from islands_grouped

)
{%- endmacro %}
