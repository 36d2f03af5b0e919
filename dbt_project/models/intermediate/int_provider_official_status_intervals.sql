-- Each provider's effective official status as history: non-overlapping intervals in which the worst of what its
-- pages stated held steady. The worst (status_rank) of: each page's overall indicator, each component's status
-- (int_status_component_intervals), each incident open at the time (its impact, from created_at to resolved_at) and
-- each maintenance in progress. Pages are known to show every component operational during an open incident, hence
-- the incidents. valid_to is null for the interval that still holds. Times that nothing covers (before the first
-- poll, between incidents older than it) have no interval.

with

statuses as (

    select
        provider,
        {{ status_rank('status') }} as status_rank,
        valid_from as starts_at,
        coalesce(valid_to, 'infinity'::timestamptz) as ends_at

    from {{ ref('int_status_component_intervals') }}

),

incidents as (

    select
        provider,
        {{ status_rank('impact') }} as status_rank,
        case when kind = 'maintenance' then coalesce(scheduled_for, created_at) else created_at end as starts_at,
        coalesce(
            resolved_at,
            case when status in ('resolved', 'postmortem', 'completed') then coalesce(scheduled_until, updated_at) end,
            'infinity'::timestamptz
        ) as ends_at

    from {{ ref('stg_status__incidents') }}
    -- A maintenance still only scheduled has not begun.
    where (kind = 'incident' or status <> 'scheduled')
        and created_at is not null

),

spans as (

    select * from statuses
    union all
    select * from incidents where starts_at < ends_at

),

-- Each span adds one to its rank's count where it starts and takes it back where it ends; the effective status at
-- any time is the highest rank whose count is positive.
events as (

    select provider, starts_at as event_at, status_rank, 1 as change from spans
    union all
    select provider, ends_at, status_rank, -1 from spans where ends_at < 'infinity'::timestamptz

),

changes as (

    select
        provider,
        event_at,
        {% for rank in range(6) %}sum(change) filter (where status_rank = {{ rank }}) as change_{{ rank }}{{ ',' if not loop.last }}
        {% endfor %}
    from events
    group by provider, event_at

),

counts as (

    select
        provider,
        event_at,
        {% for rank in range(6) %}sum(coalesce(change_{{ rank }}, 0)) over counts_in_order as count_{{ rank }}{{ ',' if not loop.last }}
        {% endfor %}
    from changes
    window counts_in_order as (partition by provider order by event_at rows between unbounded preceding and current row)

),

ranked as (

    select
        provider,
        event_at,
        case
            {% for rank in range(5, -1, -1) %}when count_{{ rank }} > 0 then {{ rank }}
            {% endfor %}
        end as status_rank

    from counts

),

islands as (

    select
        *,
        case when lag(status_rank) over points_in_order is not distinct from status_rank then 0 else 1 end
            as opens_interval
    from ranked
    window points_in_order as (partition by provider order by event_at)

),

numbered as (

    select
        *,
        sum(opens_interval) over (
            partition by provider order by event_at rows between unbounded preceding and current row
        ) as interval_number
    from islands

),

intervals as (

    select
        provider,
        status_rank,
        min(event_at) as valid_from
    from numbered
    group by provider, interval_number, status_rank

),

bounded as (

    select
        *,
        lead(valid_from) over (partition by provider order by valid_from) as valid_to
    from intervals

),

final as (

    select
        provider,
        {{ status_of_rank('status_rank') }} as status,
        status_rank,
        valid_from,
        valid_to

    from bounded
    -- Nothing covers these times.
    where status_rank is not null

)

select * from final
