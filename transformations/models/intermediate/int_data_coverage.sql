{#-
  How far the raw data reaches. An arrival partition counts even when its files are empty (a
  day without events has still passed). The newest partition D is complete at the next UTC
  midnight, so snapshots exist up to coverage_end_date = D + 1; a snapshot later than that would
  describe a day whose events have not arrived yet.
-#}

with

files as (

    select * from {{ ref('stg_events__files') }}

),

user_days as (

    -- every clean event has a user; the staging events are cut at the horizon, these are not
    select * from {{ ref('int_user_days_aggregated') }}

),

final as (

    select
        (select min(activity_date) from user_days) as first_event_date,
        min(arrival_date) as first_arrival_date,
        max(arrival_date) as last_arrival_date,
        max(arrival_date) + 1 as coverage_end_date
    from files

)

select * from final
