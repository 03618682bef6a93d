{#-
  churn_labels: for each user and UTC midnight T at which the user is a customer at risk (any
  event in the 30 days before T), churned_30d is true when the user has no event with
  T <= ts < T + 30 days, false when they have one, and null while the data does not yet cover
  T + 30 days. Labels are for training only; no feature view serves them online.
-#}

with

user_days as (

    select user_id, activity_date from {{ ref('int_user_days_aggregated') }}

),

coverage as (

    select * from {{ ref('int_data_coverage') }}

),

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
