{#-
  The three counts of docs/architecture.md §2 per arrival partition: raw lines = clean events +
  duplicate deliveries + quarantined lines. `pitstop build` reports their totals, and the test
  on this model checks that nothing was dropped on the way.
-#}

with

lines as (

    select * from {{ ref('stg_events__lines') }}

),

events as (

    select * from {{ ref('stg_events__events') }}

),

lines_per_partition as (

    select
        arrival_date,
        count(*) as raw_lines,
        count(*) filter (where rejection_reason is not null) as quarantined_lines,
        count(*) filter (where rejection_reason is null) as valid_lines
    from lines
    group by arrival_date

),

events_per_partition as (

    select arrival_date, count(*) as clean_events
    from events
    group by arrival_date

),

final as (

    select
        l.arrival_date,
        l.raw_lines,
        coalesce(e.clean_events, 0) as clean_events,
        l.valid_lines - coalesce(e.clean_events, 0) as duplicate_lines,
        l.quarantined_lines
    from lines_per_partition as l
    left join events_per_partition as e using (arrival_date)

)

select * from final
