-- Each catalog row with its cross-source identity and family (from int_model_identities).

with

models as (

    select * from {{ ref('int_models_unioned') }}

),

identities as (

    select * from {{ ref('int_model_identities') }}

),

final as (

    select
        models.*,
        identities.canonical_model_id,
        identities.model_family

    from models
    inner join identities
        on models.provider = identities.provider
        and models.provider_model_id = identities.provider_model_id

)

select * from final
