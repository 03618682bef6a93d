{{ config(unique_key=['user_id', 'event_timestamp'], post_hook="{{ keep_settled_rows('user_id') }}") }}

{#-
  user_activity: windowed activity counts per user, as sparse daily snapshots (one row per
  user and snapshot date where a value changes). A row at
  event_timestamp T summarizes clean events with ts < T; an N-day window is T - N days <= ts < T.
-#}

{#- The windowed features: one entry each in _marts__models.yml (macros/declared_features.sql) -#}
{%- set features = declared_window_features('user_activity') -%}
-- depends_on: {{ ref('stg_events__events') }} (declared aggregates read the clean events)

with

{{ sparse_snapshot_inputs(ref('int_user_days_aggregated'), 'user_id', features, 'user_days') }}

coverage as (

    select * from {{ ref('int_data_coverage') }}

),

changes as (

    {{ snapshot_changes('user_days', 'user_id', features, 'carried' if is_incremental() else none) }}

),

snapshots as (

    select
        user_id,
        snapshot_date,
        {%- for f in features if not f.aggregate %}
        {{ running_total(f.name, 'user_id') }} as {{ f.name }},
        {%- endfor %}
        {{ knowable_at('user_id') }} as created_timestamp
    from changes
    group by user_id, snapshot_date

),

aggregated as (

    {{ with_event_aggregates('snapshots', 'user_id', features) }}

),

final as (

    select
        -- ---- keys ----
        user_id,
        {{ utc_midnight('snapshot_date') }} as event_timestamp,
        created_timestamp,

        -- ---- the declared windows (counts; money: price x quantity over purchases) ----
        {{- declared_feature_columns(features) }},

        -- ---- derived ----
        -- an average over the purchases whose price is known (docs/architecture.md §3)
        cast({{ divide('revenue_30d', 'purchases_30d - unpriced_purchases_30d') }} as double)
            as avg_order_value_30d
    from aggregated
    {%- if is_incremental() %}
    inner join rebuilt using (user_id)
    {%- endif %}
    where snapshot_date <= (select coverage_end_date from coverage)
    {%- if is_incremental() %}
        and snapshot_date >= rebuilt.resume_date
    {%- endif %}

)

select * from final
