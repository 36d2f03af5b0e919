-- The price in effect through time for every offering, resolved across sources: one row per interval in which one
-- fct_price_history row is the price of a (provider, canonical model, component, service tier, condition, region).
-- The winner at each moment is the row price_as_of returns for that provider: the preferred source, then the id
-- that is the canonical id itself, then the latest recorded row, then the latest dated id, then the source's own key.
--
-- Why a model of its own: fct_price_history keeps every source's intervals, which overlap, so a lookup has to sort
-- the candidates of each timestamp. Here the intervals of one offering never overlap, so pricing many usage rows
-- is one index probe per row (the README's bulk as-of pattern, measured by the benchmark's as-of lookup).
--
-- Resolution: every interval boundary of an offering starts a segment that ends at the next boundary; the segment's
-- price is the winner among the rows covering its start; adjacent segments won by the same row are merged.
-- A segment no row covers (the price was withdrawn for a while) is a gap: no row.

{%- set sources = price_source_preference() %}
{%- set offering = ['provider', 'canonical_model_id', 'component', 'service_tier', 'condition', 'region'] %}

{#- The as-of index covers what the lookup reads, so that a lookup never visits the table: an index-only scan,
    once vacuum has marked the new table's pages all-visible (dbt's index config has no INCLUDE, hence the hook). -#}
{{
    config(
        indexes=[
            {'columns': ['price_history_id']},
            {'columns': ['price_timeline_id'], 'unique': True},
        ],
        post_hook=[
            "create index on {{ this }} (" ~ offering | join(', ')
                ~ ", (coalesce(valid_from, '-infinity'::timestamptz))) include (valid_from, valid_to, price_usd, source)",
            {'sql': 'vacuum analyze {{ this }}', 'transaction': false},
        ],
    )
}}

with

history as (

    select
        *,
        coalesce(valid_from, '-infinity'::timestamptz) as starts_at,
        coalesce(valid_to, 'infinity'::timestamptz) as ends_at,
        array_position(array['{{ sources | join("', '") }}']::text[], source) as source_rank

    from {{ ref('fct_price_history') }}
    where source in ('{{ sources | join("', '") }}')

),

boundaries as (

    select {{ offering | join(', ') }}, starts_at as boundary_at
    from history
    union
    select {{ offering | join(', ') }}, ends_at
    from history

),

segments as (

    select
        boundaries.*,
        lead(boundary_at) over (
            partition by {{ offering | join(', ') }}
            order by boundary_at
        ) as segment_ends_at

    from boundaries

),

segment_winners as (

    select distinct on (
        {% for column in offering %}segments.{{ column }}, {% endfor %}segments.boundary_at
    )
        segments.boundary_at,
        segments.segment_ends_at,
        history.*

    from segments
    inner join history
        on {% for column in offering %}segments.{{ column }} = history.{{ column }}
        {% if not loop.last %}and {% endif %}{% endfor %}
        and history.starts_at <= segments.boundary_at
        and segments.boundary_at < history.ends_at
    where segments.segment_ends_at is not null
    order by
        {% for column in offering %}segments.{{ column }}, {% endfor %}segments.boundary_at,
        history.source_rank,
        history.is_canonical_alias desc,
        history.first_seen_at desc,
        history.provider_model_id desc,
        history.source_model_key,
        history.price_history_id

),

island_starts as (

    select
        segment_winners.*,
        case
            when lag(price_history_id) over offering_segments = price_history_id
                and lag(segment_ends_at) over offering_segments = boundary_at
                then 0
            else 1
        end as starts_island

    from segment_winners
    window offering_segments as (partition by {{ offering | join(', ') }} order by boundary_at)

),

islands as (

    select
        island_starts.*,
        sum(starts_island) over (
            partition by {{ offering | join(', ') }}
            order by boundary_at
            rows unbounded preceding
        ) as island

    from island_starts

),

merged as (

    select
        {{ offering | join(', ') }},
        island,
        price_history_id,
        min(boundary_at) as starts_at,
        max(segment_ends_at) as ends_at

    from islands
    group by {{ offering | join(', ') }}, island, price_history_id

),

final as (

    select
        md5(
            concat_ws(
                '|', {% for column in offering %}merged.{{ column }}, {% endfor %}merged.starts_at::text
            )
        ) as price_timeline_id,

        -- the offering
        {% for column in offering %}merged.{{ column }},
        {% endfor %}history.model_family,

        -- the price in effect
        history.price_usd,
        history.unit,
        history.source,
        history.provider_model_id,
        history.source_model_key,

        -- validity: a null valid_from is an unknown start, a null valid_to an open end
        nullif(merged.starts_at, '-infinity'::timestamptz) as valid_from,
        nullif(merged.ends_at, 'infinity'::timestamptz) as valid_to,
        (merged.starts_at <= current_timestamp and current_timestamp < merged.ends_at) as is_current,

        -- lineage
        merged.price_history_id

    from merged
    inner join history
        on merged.price_history_id = history.price_history_id

)

select * from final
