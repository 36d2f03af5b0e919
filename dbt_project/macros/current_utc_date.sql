{#-
    Today's date in UTC, whatever the session's time zone: price validity dates in the registry are UTC days.
-#}
{% macro current_utc_date() -%}
    (current_timestamp at time zone 'UTC')::date
{%- endmacro %}
