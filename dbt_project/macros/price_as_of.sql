{#-
    The price of one model's component as of a timestamp, from marts.fct_price_history: a scalar subquery, so it
    can be selected per row of any query (correlated to the outer row's columns) or used in a lateral join.

    Every argument is a SQL expression: quote literals ("'gpt-4o'"), or name outer columns (usage.model_id).
      canonical_model_id / provider_model_id   which model (give one; provider_model_id is the provider's own id)
      component        input, output, cache_read, ...                       default 'input'
      at               the timestamp                                        default current_timestamp
      provider         ModelAtlas's provider id (openai, aws_bedrock, ...)  default any provider
      condition        default 'base'; service_tier default 'standard'; region default 'global'
      sources          the sources in order of preference (a list of names)  default price_source_preference()
      column           the column returned                                  default 'price_usd'

    A row is in effect at `at` when valid_from <= at < valid_to (a null valid_from is an unknown start, a null
    valid_to still open). Among rows in effect: the preferred source first, then the model id that is the canonical
    id itself (gpt-4o over gpt-4o-2024-05-13), then the latest recorded row (a source's restatement of its past
    wins over what it said before), then the latest dated id, then the source's own key for the model (two of a
    source's keys can name one offering: LiteLLM's gemini-2.5-flash and vertex_ai/gemini-2.5-flash), and last the
    row id, so that ties resolve the same way everywhere and whenever each source was observed.
-#}
{% macro price_as_of(
    canonical_model_id=none,
    provider_model_id=none,
    component="'input'",
    at='current_timestamp',
    provider=none,
    condition="'base'",
    service_tier="'standard'",
    region="'global'",
    sources=none,
    column='price_usd'
) -%}
    {%- if canonical_model_id is none and provider_model_id is none -%}
        {{ exceptions.raise_compiler_error("price_as_of needs canonical_model_id or provider_model_id") }}
    {%- endif -%}
    {%- set sources = sources if sources is not none else price_source_preference() -%}
    (
        select price_history.{{ column }}
        from {{ ref('fct_price_history') }} as price_history
        where price_history.component = {{ component }}
            and price_history.condition = {{ condition }}
            and price_history.service_tier = {{ service_tier }}
            and price_history.region = {{ region }}
            {% if canonical_model_id is not none -%}
            and price_history.canonical_model_id = {{ canonical_model_id }}
            {% endif -%}
            {% if provider_model_id is not none -%}
            and price_history.provider_model_id = {{ provider_model_id }}
            {% endif -%}
            {% if provider is not none -%}
            and price_history.provider = {{ provider }}
            {% endif -%}
            and price_history.source in ('{{ sources | join("', '") }}')
            and coalesce(price_history.valid_from, '-infinity'::timestamptz) <= {{ at }}
            and (price_history.valid_to is null or {{ at }} < price_history.valid_to)
        order by
            array_position(array['{{ sources | join("', '") }}']::text[], price_history.source),
            price_history.is_canonical_alias desc,
            price_history.first_seen_at desc,
            price_history.provider_model_id desc,
            price_history.source_model_key,
            price_history.price_history_id
        limit 1
    )
{%- endmacro %}
