-- Every provider's catalog in one shape, and whether the provider's latest fetch still listed each model. The providers are listed in the `catalog_providers` var.

with

{% for provider in var('catalog_providers') %}
{{ provider }}_models as (

    select * from {{ ref('stg_' ~ provider ~ '__models') }}

),

{% endfor %}
unioned as (

    {% for provider in var('catalog_providers') %}
    select * from {{ provider }}_models
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

latest_batches as (

    select provider, max(batch_id) as latest_batch_id
    from unioned
    group by provider

),

final as (

    select
        unioned.*,
        unioned.batch_id = latest_batches.latest_batch_id as is_in_latest_batch

    from unioned
    inner join latest_batches
        on unioned.provider = latest_batches.provider

)

select * from final
