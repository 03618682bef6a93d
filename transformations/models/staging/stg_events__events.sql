{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='arrival_date',
    on_schema_change='fail'
  )
}}

{#-
  Clean events, one row per event_id. The same event delivered twice is one event: the first
  delivery (earliest arrival partition, then file, then line) is kept, later ones are counted as
  duplicates in stg_events__lines_accounted.

  Incremental by arrival partition, like stg_events__lines: a run redoes the partitions from
  redo_since on, deduplicating them among themselves and against the event_ids of the older
  partitions. A redelivery is the same event, with the same event time, and no event arrives
  before it happens: its first delivery is in a partition no older than its event day (a day
  earlier at most, for clocks and time zones). So only the partitions from the earliest event
  day among this run's lines on are probed, by their event_id column alone: the probe grows
  with how late the new lines are, not with the history.

  Rows are stored in arrival order, then event time, so the date filters of this probe and of
  the incremental models downstream (arrival_date, event_date) skip the older row groups.
-#}

{%- set since = redo_since('arrival_date', var('lookback_days')) %}
{%- if is_incremental() %}{% do refuse_events_past_horizon(since) %}{% endif %}

with

valid_lines as (

    select * from {{ ref('stg_events__lines') }}
    where rejection_reason is null
    {%- if is_incremental() %}
        and arrival_date >= {{ since }}
    {%- endif %}

),

first_deliveries_in_run as (

    select *
    from valid_lines
    qualify row_number() over (
        partition by event_id
        order by arrival_date, file_path, line_number
    ) = 1

),

{% if is_incremental() -%}
delivered_before as (

    -- ids first delivered in an older partition than this run redoes
    select event_id
    from {{ this }}
    where arrival_date < {{ since }}
        and arrival_date >= {{ first_delivery_window_start('first_deliveries_in_run') }}
        and event_id in (select event_id from first_deliveries_in_run)

),

first_deliveries as (

    select *
    from first_deliveries_in_run
    anti join delivered_before using (event_id)

),
{%- else -%}
first_deliveries as (

    select * from first_deliveries_in_run

),
{%- endif %}

final as (

    select
        -- ---- ids ----
        event_id,
        event_type,
        user_id,
        item_id,
        session_id,

        -- ---- time (UTC) ----
        event_at,
        {{ utc_date('event_at') }} as event_date,
        arrival_date,

        -- ---- money ----
        price,
        quantity,
        case when event_type = 'purchase' then price * quantity end as purchase_amount,

        -- ---- context ----
        device,
        country,

        -- ---- the fields of the user's own (vars.event_fields) ----
        {%- for field in extra_event_fields() %}
        {{ field }},
        {%- endfor %}

        -- ---- lineage ----
        file_path,
        line_number
    from first_deliveries

)

select * from final
order by arrival_date, event_at
