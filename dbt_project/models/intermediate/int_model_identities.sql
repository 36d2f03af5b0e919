-- The cross-source identity (canonical_model_id) and family of every (provider, provider_model_id): the
-- canonical_model_id macro unless the canonical_model_overrides seed names an exception; the family is the first
-- matching pattern of the model_families seed.

with

models as (

    select distinct provider, provider_model_id from {{ ref('int_models_unioned') }}

),

overrides as (

    select * from {{ ref('canonical_model_overrides') }}

),

families as (

    select * from {{ ref('model_families') }}

),

identified as (

    select
        models.provider,
        models.provider_model_id,
        coalesce(overrides.canonical_model_id, {{ canonical_model_id('models.provider_model_id') }})
            as canonical_model_id

    from models
    left join overrides
        on models.provider = overrides.provider
        and models.provider_model_id = overrides.provider_model_id

),

final as (

    select
        identified.provider,
        identified.provider_model_id,
        identified.canonical_model_id,
        (
            select families.model_family
            from families
            where identified.canonical_model_id ~ families.pattern
            order by families.priority
            limit 1
        ) as model_family

    from identified

)

select * from final
