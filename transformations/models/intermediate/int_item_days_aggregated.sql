{#- One row per item per UTC day with item events. -#}

with

events as (

    select * from {{ ref('stg_events__events') }}
    where item_id is not null

),

final as (

    select
        item_id,
        event_date as activity_date,
        count(*) filter (where event_type = 'page_view') as views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_type = 'purchase') as purchases,
        coalesce(sum(purchase_amount), 0) as revenue,
        max(arrival_date) as latest_arrival_date
    from events
    group by item_id, event_date

)

select * from final
