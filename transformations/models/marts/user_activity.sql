{{ config(unique_key=['user_id', 'event_timestamp']) }}

{#-
  user_activity: windowed activity counts per user, as sparse daily snapshots (one row per
  user and snapshot date where a value changes, plus weekly keep-alive rows). A row at
  event_timestamp T summarizes clean events with ts < T; an N-day window is T - N days <= ts < T.
-#}

{%- set features = [
    {'name': 'events_1d', 'enters': 'events', 'days': 1},
    {'name': 'events_7d', 'enters': 'events', 'days': 7},
    {'name': 'events_30d', 'enters': 'events', 'days': 30},
    {'name': 'sessions_7d', 'enters': 'session_windows_opened_7d',
     'leaves': 'session_windows_closed_7d', 'days': 7},
    {'name': 'page_views_7d', 'enters': 'page_views', 'days': 7},
    {'name': 'add_to_carts_7d', 'enters': 'add_to_carts', 'days': 7},
    {'name': 'purchases_7d', 'enters': 'purchases', 'days': 7},
    {'name': 'purchases_30d', 'enters': 'purchases', 'days': 30},
    {'name': 'revenue_7d', 'enters': 'revenue', 'days': 7},
    {'name': 'revenue_30d', 'enters': 'revenue', 'days': 30},
    {'name': 'days_active_30d', 'enters': '1', 'days': 30},
    {'name': 'support_tickets_30d', 'enters': 'support_tickets', 'days': 30},
] -%}

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
        {%- for f in features %}
        {{ running_total(f.name, 'user_id') }} as {{ f.name }},
        {%- endfor %}
        {{ knowable_at('user_id') }} as created_timestamp
    from changes
    group by user_id, snapshot_date

),

final as (

    select
        -- ---- keys ----
        user_id,
        {{ utc_midnight('snapshot_date') }} as event_timestamp,
        created_timestamp,

        -- ---- activity counts ----
        cast(events_1d as bigint) as events_1d,
        cast(events_7d as bigint) as events_7d,
        cast(events_30d as bigint) as events_30d,
        cast(sessions_7d as bigint) as sessions_7d,
        cast(page_views_7d as bigint) as page_views_7d,
        cast(add_to_carts_7d as bigint) as add_to_carts_7d,
        cast(purchases_7d as bigint) as purchases_7d,
        cast(purchases_30d as bigint) as purchases_30d,
        cast(days_active_30d as bigint) as days_active_30d,
        cast(support_tickets_30d as bigint) as support_tickets_30d,

        -- ---- money (sum of price x quantity over purchases; refunds do not reduce it) ----
        cast(revenue_7d as double) as revenue_7d,
        cast(revenue_30d as double) as revenue_30d,
        cast({{ divide('revenue_30d', 'purchases_30d') }} as double) as avg_order_value_30d
    from snapshots
    {%- if is_incremental() %}
    inner join rebuilt using (user_id)
    {%- endif %}
    where snapshot_date <= (select coverage_end_date from coverage)
    {%- if is_incremental() %}
        and snapshot_date >= rebuilt.resume_date
    {%- endif %}

)

select * from final
