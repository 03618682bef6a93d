{#-
  The warehouse horizon (vars.warehouse_horizon_days, docs/architecture.md §2 "Bounded
  storage"): after each successful build on DuckDB, the staging tables stg_events__lines and
  stg_events__events keep only the arrival partitions from the newest one minus the horizon on,
  and the table pitstop_horizon records that date (kept_from). The day and entity tables
  (int_*_aggregated) and the marts keep their whole history: they are what later runs extend.

  A daily run re-reads events in two ways, both bounded by the day of the oldest event it brings
  (d): int_user_days_aggregated reads the events of the days with a new one (from d; its
  session days come from int_user_session_days, which the horizon does not cut), the dedup
  probe the partitions from d - 1 (17 days are kept as a margin), and a declared windowed
  event aggregate of N days the events from d + 1 - N (macros/event_aggregates.sql). An event day e is in the partitions from e - 1 on (no
  event arrives before it happens, a day of clock slack). So a run needs the partitions from
  d - horizon_read_back_days() on; one that needs older ones, or that redoes a partition older
  than kept_from (a late raw file), is refused with one line naming `pitstop build
  --full-refresh`, which rebuilds from the raw log. Never a silent drop.
-#}

{#- The horizon in days, or none to keep every event (the var set to null). -#}
{%- macro warehouse_horizon_days() -%}
  {%- set days = var('warehouse_horizon_days', none) -%}
  {{- return(none if days is none else days | int) -}}
{%- endmacro -%}


{#-
  How many days before its oldest new event day a daily run reads (above), or none when a mart
  declares a lifetime event aggregate (it reads each entity's whole history: no horizon holds it).
-#}
{%- macro horizon_read_back_days() -%}
  {%- set longest = [17] -%}
  {%- for node in (graph.nodes or {}).values() if node.resource_type == 'model' -%}
    {%- for column in node.columns.values() -%}
      {%- set window = (column.meta or {}).get('window') or {} -%}
      {%- if window.get('distinct') or window.get('min') or window.get('max') or window.get('latest') -%}
        {%- do longest.append(window.get('days') | int if window.get('days') else 1000000) -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- set back = longest | max -%}
  {{- return(none if back >= 1000000 else back) -}}
{%- endmacro -%}


{#- The first arrival partition the staging tables still hold in full; none if never cut. -#}
{%- macro horizon_kept_from() -%}
  {%- if not execute or target.type != 'duckdb' -%}{{ return(none) }}{%- endif -%}
  {%- set mark = adapter.get_relation(database=target.database, schema=target.schema, identifier='pitstop_horizon') -%}
  {%- if mark is none -%}{{ return(none) }}{%- endif -%}
  {{- return(run_query('select max(kept_from) from ' ~ mark).columns[0].values()[0]) -}}
{%- endmacro -%}


{%- macro _refuse_past_horizon(what, kept_from) -%}
  {{ exceptions.raise_compiler_error(
      "warehouse horizon: " ~ what ~ ", but the warehouse keeps raw lines and events from "
      ~ kept_from ~ " on (vars.warehouse_horizon_days = " ~ warehouse_horizon_days()
      ~ "); rebuild from the raw log with `pitstop build --full-refresh`"
  ) }}
{%- endmacro -%}


{#- In stg_events__lines: a redone partition older than kept_from (a late raw file). -#}
{%- macro refuse_partitions_past_horizon() -%}
  {%- set kept_from = horizon_kept_from() -%}
  {%- if kept_from is not none and var('redo_since', none)
        and var('redo_since') | string < kept_from | string -%}
    {%- do _refuse_past_horizon(
        "a raw file arrived late in partition date=" ~ var('redo_since'), kept_from) -%}
  {%- endif -%}
{%- endmacro -%}


{#- In stg_events__events: new events too old for the events the warehouse still holds. -#}
{%- macro refuse_events_past_horizon(since) -%}
  {%- set kept_from = horizon_kept_from() -%}
  {%- if kept_from is none -%}{{ return('') }}{%- endif -%}
  {%- set back = horizon_read_back_days() -%}
  {%- set oldest = scalar_at_run(
      'select min(' ~ utc_date('event_at') ~ ') from ' ~ ref('stg_events__lines')
      ~ ' where rejection_reason is null and arrival_date >= ' ~ since
  ) -%}
  {%- if oldest is none -%}{{ return('') }}{%- endif -%}
  {%- set needed = scalar_at_run(
      "select cast(date '" ~ oldest ~ "' - " ~ (back if back is not none else 100000) ~ " as date)"
  ) -%}
  {%- if needed | string < kept_from | string -%}
    {%- do _refuse_past_horizon(
        "new events of " ~ oldest ~ " need the events from " ~ needed ~ " on", kept_from) -%}
  {%- endif -%}
{%- endmacro -%}


{#-
  on-run-end: cut the staging tables at the horizon, after a build whose every node passed.
  The newest arrival is int_data_coverage's (the raw partitions up to run_date). A whole build
  of stg_events__lines sets kept_from afresh; an incremental one never lowers it.
-#}
{%- macro drop_events_past_horizon(results) -%}
  {%- set days = warehouse_horizon_days() -%}
  {%- if not execute or target.type != 'duckdb' or days is none
        or horizon_read_back_days() is none
        or flags.WHICH not in ['build', 'run'] -%}
    {{ return('') }}
  {%- endif -%}
  {%- if results | selectattr('status', 'in', ['error', 'fail', 'skipped']) | list -%}
    {{ return('') }}
  {%- endif -%}
  {%- set lines = adapter.get_relation(database=target.database, schema=target.schema, identifier='stg_events__lines') -%}
  {%- set events = adapter.get_relation(database=target.database, schema=target.schema, identifier='stg_events__events') -%}
  {%- set coverage = adapter.get_relation(database=target.database, schema=target.schema, identifier='int_data_coverage') -%}
  {%- if lines is none or events is none or coverage is none -%}{{ return('') }}{%- endif -%}
  {%- set rebuilt_whole = flags.FULL_REFRESH and (results | selectattr('node.name', 'equalto', 'stg_events__lines') | list) -%}
  {%- set previous = none if rebuilt_whole else horizon_kept_from() -%}
  {%- set cut = "(select last_arrival_date - " ~ days ~ " from " ~ coverage ~ ")" -%}
  {%- if previous is not none -%}
    {%- set cut = "greatest(" ~ cut ~ ", date '" ~ previous ~ "')" -%}
  {%- endif -%}
  create or replace table {{ target.schema }}.pitstop_horizon as
      select cast({{ cut }} as date) as kept_from;
  delete from {{ lines }} where arrival_date < (select kept_from from {{ target.schema }}.pitstop_horizon);
  delete from {{ events }} where arrival_date < (select kept_from from {{ target.schema }}.pitstop_horizon);
{%- endmacro -%}
