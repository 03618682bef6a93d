{#-
  Incremental daily runs (`pitstop run --date`): each incremental model finds what changed since
  its own last run from a high-water mark kept in its own rows, so a failed or skipped run is
  caught up by the next one. The marks are read when the model runs and inlined as date
  literals, so DuckDB prunes row groups and raw files with them.
-#}

{#-
  The newest value of a date (or timestamp) column of this incremental model, minus
  `back_days`, as a date literal; date '1970-01-01' when the table is empty or this is not an
  incremental run.
-#}
{%- macro high_water_date(column, back_days=0) -%}
  {%- set newest = none -%}
  {%- if execute and is_incremental() -%}
    {%- set result = run_query('select cast(max(' ~ column ~ ') as date) from ' ~ this) -%}
    {%- set newest = result.columns[0].values()[0] -%}
  {%- endif -%}
  {%- if newest is none -%}
    date '1970-01-01'
  {%- else -%}
    (date '{{ newest }}' - {{ back_days }})
  {%- endif -%}
{%- endmacro -%}


{#-
  Where an incremental model starts reading arrival partitions, as a date literal: the var
  redo_since when `pitstop build` passes it (the earliest partition with a raw file that is
  new, changed or gone since the last successful build; service/pitstop/arrivals.py), else
  `back_days` before the model's own high-water mark of `column` (high_water_date).
-#}
{%- macro redo_since(column, back_days) -%}
  {%- if var('redo_since', none) and is_incremental() -%}
    date '{{ var("redo_since") }}'
  {%- else -%}
    {{ high_water_date(column, back_days) }}
  {%- endif -%}
{%- endmacro -%}


{#- A scalar query's single value, run when the model runs (none while parsing). -#}
{%- macro scalar_at_run(sql) -%}
  {%- if execute -%}
    {{- return(run_query(sql).columns[0].values()[0]) -}}
  {%- endif -%}
  {{- return(none) -}}
{%- endmacro -%}


{#-
  The earliest event day among the clean events that arrived since `since`, minus `back_days`,
  as a date literal: a constant bound on event_date that lets an incremental model skip the row
  groups of older events (stg_events__events is stored roughly in arrival order).
-#}
{%- macro earliest_changed_date(since, back_days=0) -%}
  {%- set earliest = scalar_at_run(
      'select min(event_date) from ' ~ ref('stg_events__events') ~ ' where arrival_date >= ' ~ since
  ) -%}
  {%- if earliest is none -%}
    date '1970-01-01'
  {%- else -%}
    (date '{{ earliest }}' - {{ back_days }})
  {%- endif -%}
{%- endmacro -%}


{#-
  The entities whose rows in this sparse-snapshot mart (macros/feature_snapshots.sql) can differ
  from its last run, as a query over `days_relation` (one row per entity and activity day, with
  latest_arrival_date), each with `resume_date`: the first snapshot date whose row can change.

  - Entities with day rows that arrived in the partitions this run redoes (redo_since; without
    it, since the mart's newest created_timestamp, the newest arrival + 1 day, minus the
    lookback): from 7 days before the earliest such day, because the intermediate models
    recompute the 8 days before a new event (int_user_days_aggregated's session windows) and a
    day enters the snapshots the day after.
  - Entities with a change row that falls into the snapshot dates newly covered by the data,
    after the mart's newest event_timestamp: a day's entry (d + 1) or its exit from an N-day
    window (d + N + 1, for N in `lengths`); they resume at the first newly covered date.
  - Every entity, when a Monday (the keep-alive rows) is newly covered; likewise.

  Rows before resume_date are kept from the last run; the rest are recomputed
  (days_since_resume), and are those a full rebuild would write.
-#}
{%- macro rebuilt_entities(days_relation, entity_key, lengths) -%}
    {%- set since = redo_since('created_timestamp', var('lookback_days') + 1) -%}
    {%- set old_end = high_water_date('event_timestamp') -%}
    select
        days.{{ entity_key }},
        least(
            min(days.activity_date - 7) filter (where days.latest_arrival_date >= {{ since }}),
            {{ old_end }} + 1
        ) as resume_date
    from {{ days_relation }} as days
    cross join (select coverage_end_date as new_end from {{ ref('int_data_coverage') }}) as coverage
    where days.latest_arrival_date >= {{ since }}
        or days.activity_date + 1 > {{ old_end }}
        {%- for n in lengths | sort %}
        or (days.activity_date + {{ n + 1 }} > {{ old_end }}
            and days.activity_date + {{ n + 1 }} <= coverage.new_end)
        {%- endfor %}
        or cast(date_trunc('week', coverage.new_end) as date) > {{ old_end }}
    group by days.{{ entity_key }}
{%- endmacro -%}


{#-
  The day rows of the rebuilt entities (the CTE `rebuilt`: entity, resume_date) that snapshots
  from resume_date on need, with all older days folded into one day.

  A mart's change rows are linear in the day columns: a day d adds its values at d + 1 and
  takes them out of an N-day window at d + N + 1 (macros/feature_snapshots.sql). A day before
  resume_date - max(N) - 1 has entered and left every window before resume_date, so from then on
  only the totals of those days count, not their dates. They are replaced by one day, on the
  last of those dates, holding their sums (the first and last times and the latest arrival for
  the columns that are times): a daily run's cost per rebuilt entity is its recent days and one
  aggregate, not its whole history of snapshots, and the values are exactly a full rebuild's.

  `aggregates` maps every other column of `days_relation` to its aggregate function; a column
  without one is a compile error (a new column must say how it folds). A feature that enters
  something other than a day column (days_active_30d enters 1) needs a window: the folded day
  counts once, which is right only once it has left every window.
-#}
{%- macro days_since_resume(days_relation, entity_key, lengths, aggregates) -%}
    {%- set folded_through = 'rebuilt.resume_date - ' ~ ((lengths | max if lengths else 0) + 2) -%}
    {%- if execute -%}
      {%- set columns = adapter.get_columns_in_relation(days_relation) | map(attribute='name') -%}
      {%- set missing = columns | reject('in', [entity_key, 'activity_date']) | reject('in', aggregates) | list -%}
      {%- if missing -%}
        {{ exceptions.raise_compiler_error(
            'days_since_resume: no aggregate for ' ~ missing | join(', ') ~ ' of ' ~ days_relation) }}
      {%- endif -%}
    {%- endif %}
    select days.*
    from {{ days_relation }} as days
    inner join rebuilt using ({{ entity_key }})
    where days.activity_date > {{ folded_through }}

    union all by name

    select
        days.{{ entity_key }},
        {{ folded_through }} as activity_date,
        {%- for column, aggregate in aggregates.items() %}
        {{ aggregate }}(days.{{ column }}) as {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ days_relation }} as days
    inner join rebuilt using ({{ entity_key }})
    where days.activity_date <= {{ folded_through }}
    group by days.{{ entity_key }}, rebuilt.resume_date
{%- endmacro -%}


{#- How the day columns of the intermediate models fold over many days (days_since_resume). -#}
{%- macro user_day_aggregates() -%}
    {{- return({
        'events': 'sum', 'page_views': 'sum', 'add_to_carts': 'sum', 'purchases': 'sum',
        'support_tickets': 'sum', 'revenue': 'sum',
        'session_windows_opened_7d': 'sum', 'session_windows_closed_7d': 'sum',
        'first_event_at': 'min', 'last_event_at': 'max', 'last_purchase_at': 'max',
        'latest_arrival_date': 'max',
    }) -}}
{%- endmacro -%}

{%- macro item_day_aggregates() -%}
    {{- return({
        'views': 'sum', 'add_to_carts': 'sum', 'purchases': 'sum', 'revenue': 'sum',
        'latest_arrival_date': 'max',
    }) -}}
{%- endmacro -%}


{#-
  Post-hook of the feature marts: write the table as Parquet where dbt-duckdb's external
  materialization would (macros/external_location.sql), i.e. into `pitstop build`'s pending
  folder, published only when every model and test passed. On Spark the marts are built whole
  by the `external` materialization (dbt_project.yml), which writes the file itself: nothing to
  do there (an empty hook is skipped).
-#}
{%- macro export_to_parquet() -%}
  {{- return(adapter.dispatch('export_to_parquet')()) -}}
{%- endmacro -%}

{%- macro default__export_to_parquet() -%}
{%- endmacro -%}

{%- macro duckdb__export_to_parquet() -%}
    copy (select * from {{ this }}) to '{{ external_location(this, config) }}' (format parquet)
{%- endmacro -%}


{#-
  The oldest arrival partition that can hold an earlier delivery of an event in `lines` (a
  relation with event_at): a redelivery is the same event with the same event time, and nothing
  arrives before it happens, so its first delivery is no older than its event day, one day
  earlier at most for clocks and time zones. Used by stg_events__events' dedup probe and the
  tests that check it, so they all look in the same partitions.
-#}
{%- macro first_delivery_window_start(lines) -%}
    (select min({{ utc_date('event_at') }}) - 1 from {{ lines }})
{%- endmacro -%}


{#-
  Pre-hook of an appending incremental model keyed by arrival partition: on an incremental run,
  delete the rows of the partitions the run redoes, which it then appends again.
-#}
{%- macro delete_redone_partitions() -%}
  {%- if is_incremental() -%}
    delete from {{ this }} where arrival_date >= {{ redo_since('arrival_date', var('lookback_days')) }}
  {%- endif -%}
{%- endmacro -%}


{#- The window lengths (days) of a mart's feature list, as snapshot_changes reads them. -#}
{%- macro window_lengths(features) -%}
    {{- return(features | map(attribute='days') | reject('none') | unique | list) -}}
{%- endmacro -%}


{#-
  `pitstop run --date D` builds the log as of arrival day D (dbt var run_date): partitions after
  D are left for later runs. Without the var every partition counts.
-#}
{%- macro arrived_by_run_date(file_path) -%}
  {%- if var('run_date', none) -%}
    {{ arrival_date_of(file_path) }} <= date '{{ var("run_date") }}'
  {%- else -%}
    true
  {%- endif -%}
{%- endmacro -%}
