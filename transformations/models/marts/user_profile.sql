{{ config(unique_key=['user_id', 'event_timestamp'], post_hook="{{ keep_settled_rows('user_id') }}") }}

{#-
  user_profile: lifetime facts per user as of each snapshot T (events with ts < T), as sparse
  daily snapshots: a row the day after each active day.
-#}

{#- The lifetime totals: one entry each in _marts__models.yml (macros/declared_features.sql) -#}
{%- set features = declared_window_features('user_profile') -%}
-- depends_on: {{ ref('stg_events__events') }} (declared aggregates read the clean events)

with

{{ sparse_snapshot_inputs(ref('int_user_days_aggregated'), 'user_id', features, 'user_days', ['first_seen_at', 'last_event_at', 'last_purchase_at']) }}

coverage as (

    select * from {{ ref('int_data_coverage') }}

),

changes as (

    {{ snapshot_changes('user_days', 'user_id', features, 'carried' if is_incremental() else none) }}

),

day_times as (

    -- the times a day contributes, keyed by the snapshot where they first count
    select
        user_id,
        activity_date + 1 as snapshot_date,
        first_event_at,
        last_event_at,
        last_purchase_at
    from user_days
    {%- if is_incremental() %}

    union all

    -- ... and those of the days before resume_date, as of the carried row
    select user_id, snapshot_date, first_seen_at, last_event_at, last_purchase_at
    from carried
    {%- endif %}

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

with_times as (

    select
        s.*,
        min(t.first_event_at) over timeline as first_seen_at,
        max(t.last_event_at) over timeline as last_event_at,
        max(t.last_purchase_at) over timeline as last_purchase_at
    from snapshots as s
    left join day_times as t using (user_id, snapshot_date)
    window timeline as (
        partition by s.user_id order by s.snapshot_date
        rows between unbounded preceding and current row
    )

),

aggregated as (

    {{ with_event_aggregates('with_times', 'user_id', features) }}

),

final as (

    select
        -- ---- keys ----
        user_id,
        {{ utc_midnight('snapshot_date') }} as event_timestamp,
        created_timestamp,

        -- ---- lifetime: the times, then the declared totals ----
        first_seen_at,
        last_event_at,
        last_purchase_at,
        {{- declared_feature_columns(features) }}
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
