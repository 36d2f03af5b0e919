{#-
    A model's custom schema is used as-is: `staging`, `intermediate` and `marts` are the warehouse contract,
    not `<target schema>_<custom schema>` (dbt's default). Nodes without one land in the target's schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
