{#- The price sources in order of preference when several price one offering: price_as_of's default and the
    order fct_price_timeline resolves by. -#}
{% macro price_source_preference() -%}
    {{ return(['genai-prices', 'litellm', 'openrouter']) }}
{%- endmacro %}
