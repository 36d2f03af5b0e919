-- Every usage record of every usage source in one shape: a provider's hourly bucket or one request of a log.
-- `usage_id` identifies a record across sources (a source's own id is only unique within it).

{%- set columns = [
    'record_source', 'record_id', 'record_kind', 'used_at', 'bucket_end', 'provider_as_written', 'model_as_written',
    'service_tier', 'region', 'context_window', 'api_key_id', 'project_id', 'workspace_id', 'user_id',
    'litellm_team', 'file_team', 'requests', 'prompt_tokens', 'uncached_input_tokens', 'cache_read_tokens',
    'cache_write_5m_tokens', 'cache_write_1h_tokens', 'output_tokens', 'reasoning_tokens',
    'provider_reported_cost_usd', 'fetched_at',
] %}
{%- set record_models = [
    'stg_openai_usage__usage', 'stg_anthropic_usage__usage', 'stg_usage_files__requests', 'stg_litellm_spend__requests',
] %}

with

{% for model in record_models %}
{{ model }} as (

    select {{ columns | join(', ') }}
    from {{ ref(model) }}

),

{% endfor %}
unioned as (

    {% for model in record_models %}
    select * from {{ model }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        md5(record_source || ':' || record_id) as usage_id,
        *

    from unioned

)

select * from final
