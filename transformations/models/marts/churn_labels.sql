{{ config(unique_key=['user_id', 'event_timestamp']) }}

{#-
  churn_labels: for each user and UTC midnight T at which the user is a customer at risk (any
  event in the 30 days before T), churned_30d is true when the user has no event with
  T <= ts < T + 30 days, false when they have one, and null while the data does not yet cover
  T + 30 days. Labels are for training only; no feature view serves them online.

  Incremental (DuckDB; Spark builds it whole): a label changes only where an active day is new
  or the coverage end moves, and rows never disappear (events and coverage are only added). A
  new active day d decides churned_30d for T in d-29..d, of which only those with T + 30 days
  covered are not null, and puts the user at risk for T in d+1..d+30. Moving the coverage end
  from the last run's newest label date E to C turns the labels of T in E-29..C-30 from null to
  known and adds the dates E+1..C, for every user active in the 30 days before them. Those
  (user, T) are recomputed and replace their rows; the cost is the new days, not the history.
-#}

{% if is_incremental() -%}
{%- set since = redo_since('event_timestamp', var('lookback_days') + 1) %}
{%- set newest_label = high_water_date('event_timestamp') %}
{%- set old_end = 'greatest(' ~ newest_label ~ ', coverage.first_event_date)' %}
{%- set earliest_new = scalar_at_run(
    'select min(activity_date) from ' ~ ref('int_user_days_aggregated')
    ~ ' where latest_arrival_date >= ' ~ since
) %}
{%- endif %}

with

user_days as (

    select user_id, activity_date from {{ ref('int_user_days_aggregated') }}
    {%- if is_incremental() %}
    -- every label this run recomputes is at T >= least(earliest new day, newest label) - 29:
    -- its previous active day counts from T - 30 on and its next one from T on, so older days
    -- change nothing, and the run reads the days of its labels, not the history
    where activity_date >= least(
        {{ "date '" ~ earliest_new ~ "'" if earliest_new is not none else newest_label }},
        {{ newest_label }}
    ) - 59
    {%- endif %}

),

coverage as (

    select * from {{ ref('int_data_coverage') }}

),

{% if is_incremental() -%}
new_days as (

    -- active days with events from the partitions this run redoes
    select user_id, activity_date
    from {{ ref('int_user_days_aggregated') }}
    where latest_arrival_date >= {{ since }}

),

recent_users as (

    -- users who can be at risk on a date from old_end - 29 on
    select distinct user_days.user_id
    from user_days
    cross join coverage
    where user_days.activity_date >= {{ old_end }} - 59

),

changed_dates as (

    select user_id, {{ date_series('activity_date - 29', 'least(activity_date, coverage.coverage_end_date - 30)', 1) }} as label_date
    from new_days cross join coverage

    union all

    select user_id, {{ date_series('activity_date + 1', 'least(activity_date + 30, coverage.coverage_end_date)', 1) }}
    from new_days cross join coverage

    union all

    select user_id, {{ date_series(old_end ~ ' - 29', 'coverage.coverage_end_date - 30', 1) }}
    from recent_users cross join coverage

    union all

    select user_id, {{ date_series(old_end ~ ' + 1', 'coverage.coverage_end_date', 1) }}
    from recent_users cross join coverage

),

candidate_dates as (

    select distinct user_id, label_date from changed_dates

),

previous_activity as (

    -- the user's last active day before T: at risk when it is at most 30 days before
    select c.user_id, c.label_date, d.activity_date as previous_active_date
    from candidate_dates as c
    asof left join user_days as d
        on c.user_id = d.user_id and d.activity_date < c.label_date

),

label_dates as (

    select user_id, label_date
    from previous_activity
    where previous_active_date >= label_date - 30

),
{%- else -%}

at_risk_spans as (

    -- an active day d puts the user at risk for T in d+1 .. d+30; days closer than 31 apart
    -- merge into one span, so the spine below has no duplicate (user, T)
    select
        user_id,
        activity_date,
        {{ days_between('lag(activity_date) over timeline', 'activity_date') }} > 30 or lag(activity_date) over timeline is null
            as opens_span
    from user_days
    window timeline as (partition by user_id order by activity_date)

),

numbered_spans as (

    select
        user_id,
        activity_date,
        sum(case when opens_span then 1 else 0 end) over (
            partition by user_id order by activity_date rows between unbounded preceding and current row
        ) as span_number
    from at_risk_spans

),

spans as (

    select
        user_id,
        min(activity_date) + 1 as first_label_date,
        least(max(activity_date) + 30, (select coverage_end_date from coverage)) as last_label_date
    from numbered_spans
    group by user_id, span_number

),

label_dates as (

    select
        user_id,
        {{ date_series('first_label_date', 'last_label_date', 1) }}
            as label_date
    from spans
    where first_label_date <= last_label_date

),
{%- endif %}

next_activity as (

    -- the user's first active day on or after T
    {{ next_active_day('label_dates', 'user_days') }}

),

final as (

    select
        user_id,
        {{ utc_midnight('label_date') }} as event_timestamp,
        {{ utc_midnight('label_date + 30') }} as created_timestamp,
        case
            when label_date + 30 > (select coverage_end_date from coverage) then null
            else next_active_date is null or next_active_date >= label_date + 30
        end as churned_30d
    from next_activity

)

select * from final
