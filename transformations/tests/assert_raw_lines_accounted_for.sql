{#-
  Nothing in the logs is lost silently (ARCHITECTURE §2): every physical line of every raw file
  is either a clean event, a duplicate delivery of one, or quarantined. Lines are counted here
  straight from the files, independently of how stg_events__lines splits them, and clean
  events must be exactly the distinct event_ids among valid lines.
-#}

with

physical as (

    -- newline characters, plus a last line without one; files that are not UTF-8 are counted
    -- on their bytes (cross_engine/raw_events.sql)
    select coalesce(sum({{ raw_file_lines('content') }}), 0) as raw_lines
    from {{ source('events', 'raw') }}

),

lines as (

    select
        count(*) filter (where rejection_reason is null) as valid_lines,
        count(*) filter (where rejection_reason is not null) as quarantined_lines,
        count(distinct event_id) filter (where rejection_reason is null) as distinct_valid_ids
    from {{ ref('stg_events__lines') }}

),

events as (

    select count(*) as clean_events from {{ ref('stg_events__events') }}

),

counts as (

    select
        physical.raw_lines,
        events.clean_events,
        lines.valid_lines - events.clean_events as duplicate_lines,
        lines.quarantined_lines,
        lines.distinct_valid_ids
    from physical, lines, events

)

select *
from counts
where raw_lines <> clean_events + duplicate_lines + quarantined_lines
   or clean_events <> distinct_valid_ids
