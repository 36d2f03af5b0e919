{#-
    Fails for every row whose [from_column, to_column) interval overlaps the next one of the same `partition_by`
    (a list of column names). A null from_column is an unknown start, a null to_column an open end.
-#}
{% test intervals_do_not_overlap(model, partition_by, from_column='valid_from', to_column='valid_to') %}

{%- set partition_csv = partition_by | join(', ') %}

with ordered as (

    select
        {{ partition_csv }},
        coalesce({{ from_column }}, '-infinity'::timestamptz) as starts_at,
        coalesce({{ to_column }}, 'infinity'::timestamptz) as ends_at,
        lead(coalesce({{ from_column }}, '-infinity'::timestamptz)) over (
            partition by {{ partition_csv }}
            order by coalesce({{ from_column }}, '-infinity'::timestamptz)
        ) as next_starts_at
    from {{ model }}

)

select *
from ordered
where next_starts_at < ends_at or starts_at >= ends_at

{% endtest %}
