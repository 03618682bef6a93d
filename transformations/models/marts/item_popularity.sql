{{ config(unique_key=['item_id', 'event_timestamp'], post_hook="{{ keep_settled_rows('item_id') }}") }}

{#-
  item_popularity: 7-day item counts as sparse daily snapshots. The item_ prefix keeps names
  unique across views, so a service joining user and item features needs no renaming.
-#}

{#- The windowed features: one entry each in _marts__models.yml (macros/declared_features.sql) -#}
{%- set features = declared_window_features('item_popularity') -%}
-- depends_on: {{ ref('stg_events__events') }} (declared aggregates read the clean events)

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
        {%- for f in features if not f.aggregate %}
        {{ running_total(f.name, 'item_id') }} as {{ f.name }},
        {%- endfor %}
        {{ knowable_at('item_id') }} as created_timestamp
    from changes
    group by item_id, snapshot_date

),

aggregated as (

    {{ with_event_aggregates('snapshots', 'item_id', features) }}

),

final as (

    select
        -- ---- keys ----
        item_id,
        {{ utc_midnight('snapshot_date') }} as event_timestamp,
        created_timestamp,

        -- ---- the declared windows ----
        {{- declared_feature_columns(features) }},

        -- ---- derived ----
        cast(item_purchases_7d / nullif(item_views_7d, 0) as double) as item_conversion_rate_7d
    from aggregated
    {%- if is_incremental() %}
    inner join rebuilt using (item_id)
    {%- endif %}
    where snapshot_date <= (select coverage_end_date from coverage)
    {%- if is_incremental() %}
        and snapshot_date >= rebuilt.resume_date
    {%- endif %}

)

select * from final
