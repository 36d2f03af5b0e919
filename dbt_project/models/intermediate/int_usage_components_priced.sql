-- Every billed component of every usage record with its quantity and as-of cost, one row per record and component
-- with tokens (fct_usage's component columns, unpivoted) for the marts that compare components with prices.

{%- set components = [
    ('input', 'uncached_input_tokens'),
    ('cache_read', 'cache_read_tokens'),
    ('cache_write_5m', 'cache_write_5m_tokens'),
    ('cache_write_1h', 'cache_write_1h_tokens'),
    ('output', 'output_tokens'),
] %}

with

usage as (

    select * from {{ ref('fct_usage') }}

),

final as (

    select
        usage.usage_id,
        usage.used_at,
        usage.team,
        usage.provider,
        usage.canonical_model_id,
        usage.service_tier,
        usage.region,
        components.component,
        components.quantity,
        components.cost_usd,
        usage.price_version

    from usage
    cross join lateral (
        values
            {% for component, tokens in components %}
            ('{{ component }}', usage.{{ tokens }}, usage.{{ component }}_cost_usd){% if not loop.last %},{% endif %}
            {% endfor %}
    ) as components (component, quantity, cost_usd)
    where components.quantity > 0

)

select * from final
