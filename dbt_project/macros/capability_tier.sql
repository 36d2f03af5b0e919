{#-
    A model's capability tier (frontier, balanced, small, embedding, media), from the model_capability_tiers seed:
    the first row, by priority, of the model's family whose canonical_model_pattern (a regular expression; empty
    matches every model of the family) matches its canonical id. Null for a family the seed does not list.
-#}
{% macro capability_tier(model_family, canonical_model_id) -%}
    (
        select tiers.capability_tier
        from {{ ref('model_capability_tiers') }} as tiers
        where tiers.model_family = {{ model_family }}
            and (
                coalesce(tiers.canonical_model_pattern, '') = ''
                or {{ canonical_model_id }} ~ tiers.canonical_model_pattern
            )
        order by tiers.priority
        limit 1
    )
{%- endmacro %}
