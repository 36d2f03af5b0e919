-- Every observation of a Hub model's counters: one row per model per fetch, the series behind popularity trends.

with

source as (

    select * from {{ source('huggingface', 'model_stats') }}

),

renamed as (

    select
        'huggingface'::text as provider,
        id::text as provider_model_id,
        observed_at::timestamptz as observed_at,
        downloads::bigint as downloads,
        likes::bigint as likes,
        trending_score::double precision as trending_score,
        batch_id::text as batch_id

    from source

)

select * from renamed
