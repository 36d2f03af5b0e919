-- The measures of a probe rollup over one bucket (an hour, a day): probes, successes, availability and the
-- percentiles of the successful probes' timings (a failure's timing measures the failure, not the service).
{% macro probe_rollup_measures() %}
        count(*) as probes,
        count(*) filter (where ok) as probes_ok,
        round(100.0 * count(*) filter (where ok) / count(*), 2)::numeric(5, 2) as availability_pct,
        percentile_cont(0.5) within group (order by total_ms) filter (where ok) as total_ms_p50,
        percentile_cont(0.95) within group (order by total_ms) filter (where ok) as total_ms_p95,
        percentile_cont(0.99) within group (order by total_ms) filter (where ok) as total_ms_p99,
        percentile_cont(0.5) within group (order by ttfb_ms) filter (where ok) as ttfb_ms_p50,
        percentile_cont(0.5) within group (order by dns_connect_ms) filter (where ok) as dns_connect_ms_p50,
        max(observed_at) as last_observed_at
{% endmacro %}
