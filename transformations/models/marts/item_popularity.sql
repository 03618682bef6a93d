{{ config(unique_key=['item_id', 'event_timestamp']) }}

{#-
  item_popularity: 7-day item counts as sparse daily snapshots. The item_ prefix keeps names
  unique across views, so a service joining user and item features needs no renaming.
-#}

{%- set features = [
    {'name': 'item_views_7d', 'enters': 'views', 'days': 7},
    {'name': 'item_add_to_carts_7d', 'enters': 'add_to_carts', 'days': 7},
    {'name': 'item_purchases_7d', 'enters': 'purchases', 'days': 7},
    {'name': 'item_revenue_7d', 'enters': 'revenue', 'days': 7},
] -%}

with

{{ sparse_snapshot_inputs(ref('int_item_days_aggregated'), 'item_id', features, 'item_days') }}

coverage as (

    select * from {{ ref('int_data_coverage') }}

),

changes as (

    {{ snapshot_changes('item_days', 'item_id', features, 'carried' if is_incremental() else none) }}

),

snapshots as (

    select
        item_id,
        snapshot_date,
        {%- for f in features %}
        {{ running_total(f.name, 'item_id') }} as {{ f.name }},
        {%- endfor %}
        {{ knowable_at('item_id') }} as created_timestamp
    from changes
    group by item_id, snapshot_date

),

final as (

    select
        -- ---- keys ----
        item_id,
        {{ utc_midnight('snapshot_date') }} as event_timestamp,
        created_timestamp,

        -- ---- counts ----
        cast(item_views_7d as bigint) as item_views_7d,
        cast(item_add_to_carts_7d as bigint) as item_add_to_carts_7d,
        cast(item_purchases_7d as bigint) as item_purchases_7d,

        -- ---- money and ratio ----
        cast(item_revenue_7d as double) as item_revenue_7d,
        cast(item_purchases_7d / nullif(item_views_7d, 0) as double) as item_conversion_rate_7d
    from snapshots
    {%- if is_incremental() %}
    inner join rebuilt using (item_id)
    {%- endif %}
    where snapshot_date <= (select coverage_end_date from coverage)
    {%- if is_incremental() %}
        and snapshot_date >= rebuilt.resume_date
    {%- endif %}

)

select * from final
