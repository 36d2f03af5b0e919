-- fct_usage's post-hook: delete the buckets the usage sources no longer report. A bucket's rows come from the API
-- that read it last (anthropic_rows_read_last), so when Anthropic's other API reads it again the first API's rows
-- leave the staging view; an incremental build never sees them to replace them.
{% macro delete_unreported_usage_buckets(relation) -%}
    delete from {{ relation }} as built
    where built.source in ('openai_usage', 'anthropic_usage')
        and not exists (
            select 1
            from (
                select record_source, record_id from {{ ref('stg_openai_usage__usage') }}
                union all
                select record_source, record_id from {{ ref('stg_anthropic_usage__usage') }}
            ) as reported
            where reported.record_source = built.source
                and reported.record_id = built.record_id
        )
{%- endmacro %}
