{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['item_id', 'activity_date'],
    on_schema_change='fail'
  )
}}

{#-
  One row per item per UTC day with item events. Incremental: the (item, day) pairs with events
  in the partitions this run redoes (redo_since) are recomputed.
-#}

{%- set since = redo_since('latest_arrival_date', var('lookback_days')) %}

with

{% if is_incremental() -%}
touched_item_days as (

    select distinct item_id, event_date
    from {{ ref('stg_events__events') }}
    where arrival_date >= {{ since }} and item_id is not null

),

events as (

    select e.*
    from {{ ref('stg_events__events') }} as e
    semi join touched_item_days as t using (item_id, event_date)
    where e.event_date >= {{ earliest_changed_date(since, 0) }}

),
{%- else -%}
events as (

    select * from {{ ref('stg_events__events') }}
    where item_id is not null

),
{%- endif %}

final as (

    select
        item_id,
        event_date as activity_date,
        -- <type>_events per type of the vocabulary that carries an item
        {{- event_type_counts('item_id') }}
        {{- event_field_sums('item_id') }}
        coalesce(sum(purchase_amount), 0) as revenue,
        max(arrival_date) as latest_arrival_date
    from events
    group by item_id, event_date

)

select * from final
