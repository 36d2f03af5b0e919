-- Probe outage episodes, per provider and region: at least `outage_min_failures` (3) consecutive failed probes;
-- episodes separated by fewer successful probes than that are one. An episode starts at its first failed probe and
-- ends at the first successful probe after its last failure (null while it lasts): 30 failed 1-minute probes from
-- 10:00 to 10:29 and a success at 10:30 are one episode from 10:00 to 10:30.

with

runs as (

    select
        provider,
        region,
        not ok as failing,
        valid_from,
        valid_to,
        last_observed_at,
        observation_count

    from {{ ref('int_probe_result_runs') }}

),

{{ outage_episodes('runs', partition_by=['provider', 'region'], min_count=var('outage_min_failures')) }},

first_errors as (

    select provider, region, valid_from, error_class
    from {{ ref('int_probe_result_runs') }}
    where not ok

),

final as (

    select
        episodes.provider,
        episodes.region,
        episodes.started_at,
        episodes.ended_at,
        episodes.last_observed_at,
        episodes.failed_count,
        episodes.succeeded_count,
        first_errors.error_class as first_error_class

    from episodes
    left join first_errors
        on episodes.provider = first_errors.provider
        and episodes.region = first_errors.region
        and episodes.started_at = first_errors.valid_from

)

select * from final
