-- The feature matrix to compare models with: one row per offering, a (canonical model, provider) pair, flat so a
-- BI tool filters it by any column without joins. Offerings are every model of the provider catalogs (dim_models)
-- plus every one a price source prices. Prices are the consensus (int_price_consensus, base condition, USD per
-- million tokens). The offering's id, region, licence and release date are its catalog's representative id's (the
-- id that is the canonical id itself, else the newest available one).
--
-- Attributes of the model fall back to every source that states them (int_model_attributes_unioned), in this order
-- of preference; within a source, its representative id first, then its other ids of the model:
--   1. the provider's own catalog (dim_models)
--   2. the registries, for the same offering: genai-prices' model list, then LiteLLM's model map
--   3. OpenRouter's catalog listing of the model, whatever the provider
-- What each states: context window (all four; LiteLLM's max_input_tokens), max output tokens (catalog, LiteLLM,
-- OpenRouter), display name (catalog, genai-prices, OpenRouter; else the canonical id), creator, modalities and
-- open weights (catalog, OpenRouter), vision, tools, reasoning and structured output (catalog, LiteLLM,
-- OpenRouter). The deprecation date belongs to the offering's id, not the model: the catalog representative's, else
-- LiteLLM's representative's for the same provider, never another provider's.
-- The last 30 days' availability is OpenRouter's uptime of the model through that provider where OpenRouter serves
-- it so, else the share of the provider's probes that succeeded (int_offering_availability_30d).

{%- set model_attributes = [
    'display_name', 'creator', 'context_window', 'max_output_tokens', 'input_modalities', 'output_modalities',
    'supports_vision', 'supports_tools', 'supports_reasoning', 'supports_structured_output', 'open_weights',
] %}

{#- The read API's sorts by price and context window, nulls last either way (modelatlas/api/queries.py sorts by
    these very expressions): a page of the cheapest matching offerings is read from the front of an index instead of
    sorting the whole mart. -#}
{%- set sort_indexes = [] %}
{%- for column in ['input_price_per_mtok', 'output_price_per_mtok', 'blended_price_per_mtok', 'context_window'] %}
    {%- for stand_in in ["'NaN'::numeric", "'-Infinity'::numeric"] %}
        {%- do sort_indexes.append({'columns': ['coalesce(' ~ column ~ ', ' ~ stand_in ~ ')', 'canonical_model_id', 'provider']}) %}
    {%- endfor %}
{%- endfor %}

{{
    config(
        indexes=[
            {'columns': ['canonical_model_id', 'provider'], 'unique': True},
            {'columns': ['provider']},
            {'columns': ['capability_tier']},
        ] + sort_indexes,
        post_hook='analyze {{ this }}',
    )
}}

with

catalog as (

    select
        *,
        replace(regexp_replace(lower(provider_model_id), '^.*/', ''), '.', '-') = canonical_model_id
            as is_canonical_alias

    from {{ ref('dim_models') }}

),

consensus as (

    select * from {{ ref('int_price_consensus') }}
    where unit = 'mtok'

),

litellm_models as (

    select
        *,
        replace(regexp_replace(lower(provider_model_id), '^.*/', ''), '.', '-') = canonical_model_id
            as is_canonical_alias

    from {{ ref('int_litellm_models_identified') }}

),

attributes as (

    select * from {{ ref('int_model_attributes_unioned') }}

),

offerings as (

    select provider, canonical_model_id from catalog
    union
    select provider, canonical_model_id from consensus

),

-- What the sources state about each offering's model: the offering's own provider's rows and OpenRouter's
-- provider-independent rows (provider null).
offering_attributes as (

    select
        offerings.provider,
        offerings.canonical_model_id,
        attributes.source_preference,
        attributes.source_rank,
        {% for attribute in model_attributes %}attributes.{{ attribute }}{{ ',' if not loop.last }}
        {% endfor %}
    from offerings
    inner join attributes
        on offerings.provider = attributes.provider
        and offerings.canonical_model_id = attributes.canonical_model_id

    union all

    select
        offerings.provider,
        offerings.canonical_model_id,
        attributes.source_preference,
        attributes.source_rank,
        {% for attribute in model_attributes %}attributes.{{ attribute }}{{ ',' if not loop.last }}
        {% endfor %}
    from offerings
    inner join attributes
        on attributes.provider is null
        and offerings.canonical_model_id = attributes.canonical_model_id

),

-- Each attribute from the first source, in order of preference, that states it.
resolved_attributes as (

    select distinct on (provider, canonical_model_id)
        provider,
        canonical_model_id,
        {% for attribute in model_attributes %}
        first_value({{ attribute }}) over (
            partition by provider, canonical_model_id
            order by {{ attribute }} is null, source_preference, source_rank
        ) as {{ attribute }}{{ ',' if not loop.last }}
        {% endfor %}
    from offering_attributes
    order by provider, canonical_model_id

),

catalog_ids as (

    select
        provider,
        canonical_model_id,
        array_agg(provider_model_id order by provider_model_id) as provider_model_ids,
        bool_or(is_available) as is_available

    from catalog
    group by provider, canonical_model_id

),

catalog_representative as (

    select distinct on (provider, canonical_model_id) *
    from catalog
    order by provider, canonical_model_id, is_available desc, is_canonical_alias desc, last_seen_at desc,
        provider_model_id desc

),

litellm_representative as (

    select distinct on (provider, canonical_model_id) *
    from litellm_models
    order by provider, canonical_model_id, is_canonical_alias desc, (deprecation_date is null) desc,
        fetched_at desc, provider_model_id desc, model_key

),

prices as (

    select
        provider,
        canonical_model_id,
        max(consensus_price_usd) filter (where service_tier = 'standard' and component = 'input')
            as input_price_per_mtok,
        max(consensus_price_usd) filter (where service_tier = 'standard' and component = 'output')
            as output_price_per_mtok,
        max(consensus_price_usd) filter (where service_tier = 'standard' and component = 'cache_read')
            as cached_input_price_per_mtok,
        max(consensus_price_usd) filter (where service_tier = 'batch' and component = 'input')
            as batch_input_price_per_mtok,
        max(consensus_price_usd) filter (where service_tier = 'batch' and component = 'output')
            as batch_output_price_per_mtok,
        max(source_count) filter (where service_tier = 'standard' and component in ('input', 'output'))
            as price_source_count,
        coalesce(bool_or(sources_disagree) filter (where service_tier = 'standard'), false) as prices_disagree,
        coalesce(bool_or(suspected_unit_error), false) as suspected_unit_error,
        max(model_family) as model_family,
        (array_agg(provider_model_ids[1] order by source_count desc))[1] as priced_model_id

    from consensus
    group by provider, canonical_model_id

),

availability as (

    select * from {{ ref('int_offering_availability_30d') }}

),

joined as (

    select
        offerings.canonical_model_id,
        offerings.provider,
        coalesce(catalog_representative.provider_model_id, litellm_representative.provider_model_id, prices.priced_model_id)
            as provider_model_id,
        coalesce(catalog_ids.provider_model_ids, array[prices.priced_model_id]) as provider_model_ids,
        coalesce(resolved_attributes.display_name, offerings.canonical_model_id) as display_name,
        coalesce(catalog_representative.model_family, prices.model_family) as model_family,
        resolved_attributes.creator,
        resolved_attributes.context_window,
        resolved_attributes.max_output_tokens,
        resolved_attributes.input_modalities,
        resolved_attributes.output_modalities,
        resolved_attributes.supports_vision,
        resolved_attributes.supports_tools,
        resolved_attributes.supports_reasoning,
        resolved_attributes.supports_structured_output,
        coalesce(catalog_representative.supports_batch, prices.batch_input_price_per_mtok is not null)
            as supports_batch,
        prices.input_price_per_mtok,
        prices.output_price_per_mtok,
        prices.cached_input_price_per_mtok,
        prices.batch_input_price_per_mtok,
        prices.batch_output_price_per_mtok,
        coalesce(prices.price_source_count, 0) as price_source_count,
        coalesce(prices.prices_disagree, false) as prices_disagree,
        coalesce(prices.suspected_unit_error, false) as suspected_unit_error,
        resolved_attributes.open_weights,
        catalog_representative.license,
        catalog_representative.release_date,
        coalesce(catalog_representative.deprecation_date, litellm_representative.deprecation_date)
            as deprecation_date,
        coalesce(catalog_representative.region, 'global') as region,
        catalog_ids.provider_model_ids is not null as is_in_catalog,
        coalesce(catalog_ids.is_available, prices.input_price_per_mtok is not null
            or prices.output_price_per_mtok is not null) as is_available,
        coalesce(offering_availability.availability_30d_pct, provider_availability.availability_30d_pct)
            as availability_30d_pct

    from offerings
    left join catalog_ids
        on offerings.provider = catalog_ids.provider
        and offerings.canonical_model_id = catalog_ids.canonical_model_id
    left join catalog_representative
        on offerings.provider = catalog_representative.provider
        and offerings.canonical_model_id = catalog_representative.canonical_model_id
    left join litellm_representative
        on offerings.provider = litellm_representative.provider
        and offerings.canonical_model_id = litellm_representative.canonical_model_id
    left join resolved_attributes
        on offerings.provider = resolved_attributes.provider
        and offerings.canonical_model_id = resolved_attributes.canonical_model_id
    left join prices
        on offerings.provider = prices.provider
        and offerings.canonical_model_id = prices.canonical_model_id
    left join availability as offering_availability
        on offerings.provider = offering_availability.provider
        and offerings.canonical_model_id = offering_availability.canonical_model_id
    left join availability as provider_availability
        on offerings.provider = provider_availability.provider
        and provider_availability.canonical_model_id is null

),

final as (

    select
        canonical_model_id,
        provider,
        provider_model_id,
        provider_model_ids,
        display_name,
        model_family,
        {{ capability_tier('joined.model_family', 'joined.canonical_model_id') }} as capability_tier,
        creator,
        context_window,
        max_output_tokens,
        input_modalities,
        output_modalities,
        supports_vision,
        supports_tools,
        supports_reasoning,
        supports_structured_output,
        supports_batch,
        input_price_per_mtok::numeric(38, 18) as input_price_per_mtok,
        output_price_per_mtok::numeric(38, 18) as output_price_per_mtok,
        cached_input_price_per_mtok::numeric(38, 18) as cached_input_price_per_mtok,
        -- 3 input : 1 output, the usual blend; only when both are priced.
        ((3 * input_price_per_mtok + output_price_per_mtok) / 4)::numeric(38, 18) as blended_price_per_mtok,
        batch_input_price_per_mtok::numeric(38, 18) as batch_input_price_per_mtok,
        batch_output_price_per_mtok::numeric(38, 18) as batch_output_price_per_mtok,
        price_source_count,
        prices_disagree,
        suspected_unit_error,
        open_weights,
        license,
        release_date,
        deprecation_date,
        region,
        is_in_catalog,
        is_available,
        case
            when is_in_catalog and is_available then 'available'
            when is_in_catalog then 'retired'
            when is_available then 'priced_only'
            else 'unpriced'
        end as availability,
        availability_30d_pct::numeric(5, 2) as availability_30d_pct

    from joined

)

select * from final
