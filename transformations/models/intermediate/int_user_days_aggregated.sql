{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['user_id', 'activity_date'],
    on_schema_change='fail'
  )
}}

{#-
  One row per user per UTC day with events: what the user did that day, and how the day moves
  the 7-day distinct-session window (see sessions_7d in user_activity).

  Incremental: the users with events in the partitions this run redoes (redo_since) are
  touched from the earliest event day d among those events, and their rows from d - 8 on are
  written again. A day's counts change only when it has a new event: those days are
  recomputed from all their events, the others keep their counts from the last run. The
  session columns change up to 8 days back (a new session day decides whether a session day up
  to 7 days earlier closes its window, and that day's opening needs the session days up to 7
  days before it), so they are recomputed for every written row from the session days of
  int_user_session_days since d - 16. The run reads the events of the days that have new ones,
  not 16 days of them (transformations/README.md, "Incremental daily runs").
-#}

{%- set since = redo_since('latest_arrival_date', var('lookback_days')) %}
-- depends_on: {{ ref('int_user_session_days') }} (an incremental run's session days)

with

{% if is_incremental() -%}
touched_days as (

    select distinct user_id, event_date as activity_date
    from {{ ref('stg_events__events') }}
    where arrival_date >= {{ since }}

),

touched_users as (

    select user_id, min(activity_date) as first_changed_date
    from touched_days
    group by user_id

),

events as (

    -- every event of the days with a new one
    select e.*
    from {{ ref('stg_events__events') }} as e
    inner join touched_days as t
        on e.user_id = t.user_id and e.event_date = t.activity_date
    where e.event_date >= {{ earliest_changed_date(since) }}

),
{%- else -%}
events as (

    select * from {{ ref('stg_events__events') }}

),
{%- endif %}

daily_activity as (

    select
        user_id,
        event_date as activity_date,

        -- ---- counts: all events, and <type>_events per type of the vocabulary ----
        count(*) as events,
        {{- event_type_counts() }}
        {{- event_field_sums() }}

        -- ---- money (exact decimals: windows add and subtract them) ----
        -- a purchase without a price (price optional in the vocabulary) adds nothing to
        -- revenue and is counted here instead, so averages divide by priced purchases only
        coalesce(sum(purchase_amount), 0) as revenue,
        count(*) filter (where event_type = 'purchase' and purchase_amount is null)
            as unpriced_purchases,

        -- ---- times ----
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        max(event_at) filter (where event_type = 'purchase') as last_purchase_at,
        max(arrival_date) as latest_arrival_date
    from events
    group by user_id, event_date

),

{%- if is_incremental() %}

kept_days as (

    -- the touched users' days from d - 8 on without a new event: their counts stand
    select days.* exclude (session_windows_opened_7d, session_windows_closed_7d)
    from {{ this }} as days
    inner join touched_users as t using (user_id)
    anti join touched_days as new using (user_id, activity_date)
    where days.activity_date >= t.first_changed_date - 8
        and days.activity_date >= {{ earliest_changed_date(since, 8) }}

),

session_days as (

    select s.user_id, s.session_id, s.activity_date
    from {{ ref('int_user_session_days') }} as s
    inner join touched_users as t using (user_id)
    where s.activity_date >= t.first_changed_date - 16
        and s.activity_date >= {{ earliest_changed_date(since, 16) }}

),
{%- else %}

session_days as (

    select distinct user_id, session_id, event_date as activity_date
    from events
    where session_id is not null

),
{%- endif %}

session_windows as (

    -- A session is in the 7-day window of snapshot T when it has an event on a day d with
    -- T-7 <= d <= T-1, i.e. each session day covers snapshots d+1 .. d+7. Consecutive session
    -- days less than 8 days apart extend one coverage span, so a session that crosses midnight
    -- is counted once. A span opens at its first day + 1 and closes after its last day + 7.
    select
        user_id,
        activity_date,
        lag(activity_date) over session_timeline as previous_day,
        lead(activity_date) over session_timeline as next_day
    from session_days
    window session_timeline as (partition by user_id, session_id order by activity_date)

),

session_window_changes as (

    select
        user_id,
        activity_date,
        count(*) filter (where previous_day is null or previous_day < activity_date - 7)
            as session_windows_opened_7d,
        count(*) filter (where next_day is null or next_day > activity_date + 7)
            as session_windows_closed_7d
    from session_windows
    group by user_id, activity_date

),

final as (

    select
        d.*,
        coalesce(s.session_windows_opened_7d, 0) as session_windows_opened_7d,
        coalesce(s.session_windows_closed_7d, 0) as session_windows_closed_7d
    {%- if is_incremental() %}
    from (
        select * from daily_activity
        union all
        select * from kept_days
    ) as d
    {%- else %}
    from daily_activity as d
    {%- endif %}
    left join session_window_changes as s using (user_id, activity_date)

)

select * from final
