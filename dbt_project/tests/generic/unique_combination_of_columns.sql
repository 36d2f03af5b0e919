{#-
    Fails for every combination of `combination` (a list of column names) that occurs more than once:
    a multi-column primary key check without dbt_utils.
-#}
{% test unique_combination_of_columns(model, combination) %}

{%- set columns_csv = combination | join(', ') %}

select
    {{ columns_csv }},
    count(*) as n_records
from {{ model }}
group by {{ columns_csv }}
having count(*) > 1

{% endtest %}
