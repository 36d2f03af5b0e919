{#- Fails for every row whose `column_name` is below zero; nulls pass (pair it with not_null when needed). -#}
{% test non_negative(model, column_name) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} < 0

{% endtest %}
