{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['user_id', 'session_id', 'activity_date'],
    on_schema_change='fail'
  )
}}

{#-
  One row per user, session and UTC day with an event of that session: the state a daily run
  of int_user_days_aggregated reads its session windows from, instead of re-reading the events
  of the 16 days before each touched user's new events (transformations/README.md,
  "Incremental daily runs"). A row is a few bytes per user and day; the clean events it replaces are many.

  Incremental: the session days of the events in the partitions this run redoes (redo_since),
  each with the newest arrival partition among them. Events are only ever added, so a row of an
  older run is either recomputed here (when the redone partitions hold one of its events) or
  still true.
-#}

{%- set since = redo_since('latest_arrival_date', var('lookback_days')) %}

with

events as (

    select user_id, session_id, event_date, arrival_date
    from {{ ref('stg_events__events') }}
    where session_id is not null
    {%- if is_incremental() %}
        and arrival_date >= {{ since }}
    {%- endif %}

),

final as (

    select
        user_id,
        session_id,
        event_date as activity_date,
        max(arrival_date) as latest_arrival_date
    from events
    group by user_id, session_id, event_date

)

select * from final
