-- The usage marts' as-of day: `usage_as_of` (a date, for replays and tests), else today (UTC).
{% macro usage_as_of() -%}
    {{- "'" ~ var('usage_as_of') ~ "'::date" if var('usage_as_of', none) else current_utc_date() -}}
{%- endmacro %}

-- Whether `column` (a timestamptz) falls in the 30 UTC days ending with the as-of day, that day included. Written
-- out in the filter, not read from a CTE of the bounds: the planner then filters the scan itself instead of joining
-- every row to the bounds first.
{% macro in_usage_window(column) -%}
    {{ column }} >= ({{ usage_as_of() }} - 29)::timestamp at time zone 'UTC'
    and {{ column }} < ({{ usage_as_of() }} + 1)::timestamp at time zone 'UTC'
{%- endmacro %}
