{#-
  Nothing in the logs is lost silently (docs/architecture.md §2): every physical line of every
  raw file is either a clean event, a duplicate delivery of one, or quarantined. Lines are
  counted here straight from the files, independently of how stg_events__lines splits them, and
  clean events must be exactly the distinct event_ids among valid lines.

  An incremental run checks the partitions it re-read (dbt var redo_since; without it, with
  run_date D, D - lookback_days on): reading every raw file of the history each day would cost
  more than the run. There, clean events are the distinct ids of those partitions' valid lines that no
  older partition delivered first, looked for in the partitions stg_events__events probes.
  Past the warehouse horizon (vars.warehouse_horizon_days) the lines are no longer kept: the
  check starts at the horizon's kept_from at the earliest.
-#}

{%- if var('redo_since', none) -%}
  {%- set since = "date '" ~ var('redo_since') ~ "'" -%}
{%- elif var('run_date', none) -%}
  {%- set since = "date '" ~ var('run_date') ~ "' - " ~ var('lookback_days') -%}
{%- else -%}
  {%- set since = none -%}
{%- endif %}
{#- the staging tables hold the partitions from the horizon's kept_from on (macros/horizon.sql) -#}
{%- set kept_from = horizon_kept_from() -%}
{%- if kept_from is not none -%}
  {%- set since = "date '" ~ kept_from ~ "'" if since is none
      else "greatest(" ~ since ~ ", date '" ~ kept_from ~ "')" -%}
{%- endif %}

with

physical as (

    -- newline characters, plus a last line without one; files that are not UTF-8 are counted
    -- on their bytes (cross_engine/raw_events.sql)
    select coalesce(sum({{ raw_file_lines('content') }}), 0) as raw_lines
    from {{ raw_files_arrived(since) }}

),

lines as (

    select
        count(*) filter (where rejection_reason is null) as valid_lines,
        count(*) filter (where rejection_reason is not null) as quarantined_lines,
        count(distinct event_id) filter (where rejection_reason is null) as distinct_valid_ids
    from {{ ref('stg_events__lines') }}
    {%- if since %}
    where arrival_date >= {{ since }}
    {%- endif %}

),

{% if since -%}
valid_lines_reread as (

    select event_id, event_at from {{ ref('stg_events__lines') }}
    where arrival_date >= {{ since }} and rejection_reason is null

),

delivered_before as (

    -- ids of the re-read partitions that an older partition delivered first, looked for where
    -- stg_events__events looks (first_delivery_window_start)
    select count(*) as ids
    from {{ ref('stg_events__events') }}
    where arrival_date < {{ since }}
        and arrival_date >= {{ first_delivery_window_start('valid_lines_reread') }}
        and event_id in (select event_id from valid_lines_reread)

),

{% endif -%}
events as (

    select count(*) as clean_events from {{ ref('stg_events__events') }}
    {%- if since %}
    where arrival_date >= {{ since }}
    {%- endif %}

),

counts as (

    select
        physical.raw_lines,
        events.clean_events,
        lines.valid_lines - events.clean_events as duplicate_lines,
        lines.quarantined_lines,
        lines.distinct_valid_ids{% if since %} - delivered_before.ids{% endif %} as distinct_valid_ids
    from physical, lines, events{% if since %}, delivered_before{% endif %}

)

select *
from counts
where raw_lines <> clean_events + duplicate_lines + quarantined_lines
   or clean_events <> distinct_valid_ids
