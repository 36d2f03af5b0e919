{#-
    Where an incremental rollup's run starts reading: the start (UTC) of the `grain` bucket ('hour', 'day') that
    held the rollup's newest observation `status_lookback_hours` ago, so the buckets that late rows may still change
    are aggregated again whole. '-infinity' on a first or full build.
-#}
{% macro rollup_scan_from(grain) -%}
    {%- if is_incremental() -%}
    (
        select coalesce(
            date_trunc('{{ grain }}', max(last_observed_at) - interval '{{ var("status_lookback_hours") }} hours', 'UTC'),
            '-infinity'::timestamptz
        )
        from {{ this }}
    )
    {%- else -%}
    '-infinity'::timestamptz
    {%- endif -%}
{%- endmacro %}
