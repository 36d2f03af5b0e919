{#-
    The rows of an Anthropic usage or cost table (`relation`) that the API which read each bucket last returned.

    Rows of the legacy and the analytics API have different keys: after a switch of MODELATLAS_ANTHROPIC_USAGE_API,
    a bucket read by both would count twice. Each bucket keeps the rows of the API that read it last.
-#}
{% macro anthropic_rows_read_last(relation) -%}
    select rows_read.*
    from {{ relation }} as rows_read
    inner join (
        select distinct on (bucket_start) bucket_start, api
        from {{ relation }}
        order by bucket_start, fetched_at desc, api
    ) as chosen_api
        on chosen_api.bucket_start = rows_read.bucket_start
        and chosen_api.api = rows_read.api
{%- endmacro %}
