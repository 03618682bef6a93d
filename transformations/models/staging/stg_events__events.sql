{{ config(materialized='table') }}

{#-
  Clean events, one row per event_id. The same event delivered twice is one event: the first
  delivery (earliest arrival partition, then file, then line) is kept, later ones are counted as
  duplicates in stg_events__lines_accounted.
-#}

with

valid_lines as (

    select * from {{ ref('stg_events__lines') }}
    where rejection_reason is null

),

first_deliveries as (

    select *
    from valid_lines
    qualify row_number() over (
        partition by event_id
        order by arrival_date, file_path, line_number
    ) = 1

),

final as (

    select
        -- ---- ids ----
        event_id,
        event_type,
        user_id,
        item_id,
        session_id,

        -- ---- time (UTC) ----
        event_at,
        {{ utc_date('event_at') }} as event_date,
        arrival_date,

        -- ---- money ----
        price,
        quantity,
        case when event_type = 'purchase' then price * quantity end as purchase_amount,

        -- ---- context ----
        device,
        country,

        -- ---- lineage ----
        file_path,
        line_number
    from first_deliveries

)

select * from final
