{#-
    How bad a normalised status is, 0 to 5, so that "the worst of" several statuses is their greatest rank:
    unknown 0 (a value the page gave that no adapter knows never hides a known status), operational 1,
    maintenance 2, degraded 3, partial_outage 4, major_outage 5. status_of_rank is the inverse.
-#}
{% macro status_rank(status) -%}
    case {{ status }}
        when 'major_outage' then 5
        when 'partial_outage' then 4
        when 'degraded' then 3
        when 'maintenance' then 2
        when 'operational' then 1
        else 0
    end
{%- endmacro %}

{% macro status_of_rank(rank) -%}
    case {{ rank }}
        when 5 then 'major_outage'
        when 4 then 'partial_outage'
        when 3 then 'degraded'
        when 2 then 'maintenance'
        when 1 then 'operational'
        when 0 then 'unknown'
    end
{%- endmacro %}
