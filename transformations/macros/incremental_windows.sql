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
  new, changed or gone since the last successful build; service/pitstop/build/arrivals.py), else
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
  The day rows a sparse-snapshot mart (macros/feature_snapshots.sql) builds from, as CTEs: on
  a full build, `days_cte` is every row of `days_relation`; on an incremental run, `rebuilt`
  (the entities that can change and their resume_date), `carried` (their last row before it)
  and `days_cte` (the day rows whose changes land from it on), whose high-water marks and
  constant bound are read once here. The mart passes `carried` to snapshot_changes.
-#}
{%- macro sparse_snapshot_inputs(days_relation, entity_key, features, days_cte, extra_columns=[]) -%}
{%- if is_incremental() %}
    {%- set since = redo_since('created_timestamp', var('lookback_days') + 1) %}
    {%- set old_end = high_water_date('event_timestamp') %}
    {%- set floor = earliest_resume_date(days_relation, since, old_end) %}
rebuilt as (

    {{ rebuilt_entities(days_relation, entity_key, window_lengths(features), since, old_end) }}

),

carried as (

    {{ carried_state(days_relation, entity_key, features, floor, extra_columns) }}

),

{{ days_cte }} as (

    {{ days_with_changes_since_resume(days_relation, entity_key, window_lengths(features), floor) }}

),
{%- else %}
{{ days_cte }} as (

    select * from {{ days_relation }}

),
{%- endif %}
{%- endmacro -%}


{#-
  The entities whose rows in this sparse-snapshot mart (macros/feature_snapshots.sql) can differ
  from its last run, as a query over `days_relation` (one row per entity and activity day),
  each with `resume_date`: the first snapshot date whose row can change.

  - Entities with day rows that arrived in the partitions this run redoes (redo_since; without
    it, since the mart's newest created_timestamp, the newest arrival + 1 day, minus the
    lookback): from the day after the earliest such day d, where it enters the snapshots.
    Days without new events of their own can change too (int_user_days_aggregated rewrites
    the 8 days before a new event), but only in their session windows, and only after d + 1:
    a new session day d decides whether a later day c of the same session opens a window
    (entering at c + 1 > d + 1) and whether an earlier one up to 7 days before closes its
    window at c + 8 (>= d + 1).
  - Entities with a change row that falls into the snapshot dates newly covered by the data,
    after the mart's newest event_timestamp: a day's entry (d + 1) or its exit from an N-day
    window (d + N + 1, for N in `lengths`); they resume at the first newly covered date.

  Nothing else changes as the coverage moves on: there are no keep-alive rows
  (macros/feature_snapshots.sql), so an entity with no news keeps its rows untouched.

  Rows before resume_date are kept from the last run; the rest are recomputed
  (days_with_changes_since_resume), and are those a full rebuild would write.
-#}
{%- macro rebuilt_entities(days_relation, entity_key, lengths, since, old_end) -%}
    select
        days.{{ entity_key }},
        least(
            min(days.activity_date + 1) filter (where days.latest_arrival_date >= {{ since }}),
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
    group by days.{{ entity_key }}
{%- endmacro -%}


{#-
  A date on or before every rebuilt entity's resume_date (rebuilt_entities), as a constant: the
  day after the earliest day of `days_relation` that newly arrived, or the day after the mart's
  last snapshot date (`old_end`) if earlier. The scan of the day rows compares against it
  (`floor`) so it skips old rows before joining them to the rebuilt entities.
-#}
{%- macro earliest_resume_date(days_relation, since, old_end) -%}
    {%- set earliest = scalar_at_run(
        'select min(activity_date) from ' ~ days_relation ~ ' where latest_arrival_date >= ' ~ since
    ) -%}
    {%- if earliest is none -%}
    ({{ old_end }} + 1)
    {%- else -%}
    (least(date '{{ earliest }}', {{ old_end }}) + 1)
    {%- endif -%}
{%- endmacro -%}


{#-
  The day rows of the rebuilt entities (the CTE `rebuilt`: entity, resume_date) whose change
  rows (macros/feature_snapshots.sql) can fall on resume_date or later: a day d enters the
  snapshots at d + 1 and leaves an N-day window at d + N + 1, so these are the days from
  resume_date - 1 on and, for each window length N in `lengths`, the days whose exit lands
  between resume_date and the coverage end. Together with the entity's last row before
  resume_date (carried_state) they give every later row: an entity whose only news is that the
  coverage moved a day reads one day per window length, not its history.
-#}
{%- macro days_with_changes_since_resume(days_relation, entity_key, lengths, floor) -%}
    select days.*
    from {{ days_relation }} as days
    inner join rebuilt using ({{ entity_key }})
    cross join (select coverage_end_date from {{ ref('int_data_coverage') }}) as coverage
    where days.activity_date >= {{ floor }} - {{ (lengths | max if lengths else 0) + 1 }}
        and (
            days.activity_date >= rebuilt.resume_date - 1
            {%- for n in lengths | sort %}
            or days.activity_date + {{ n + 1 }} between rebuilt.resume_date and coverage.coverage_end_date
            {%- endfor %}
        )
{%- endmacro -%}


{#-
  Each rebuilt entity's last row in this mart before its resume_date, as the change row that
  snapshot_changes starts its running totals from: the feature values (cast back to the type of
  the day column they sum, so money adds up exactly as in a full build), the snapshot date, and
  the date its value became knowable (arrived_by_date). `extra_columns` are carried as they are.

  The row can be of any age (an entity's latest row holds until its next change). It is looked
  for in the mart's rows of the last days and the mart's settled rows, one per entity
  (rows_to_carry_from, macros/settled_rows.sql), when every resume date is on or after their
  bound (`floor`, earliest_resume_date, is), else in the whole mart.
-#}
{%- macro carried_state(days_relation, entity_key, features, floor, extra_columns=[]) -%}
    {%- set day_types = {} -%}
    {%- if execute -%}
      {%- for column in adapter.get_columns_in_relation(days_relation) -%}
        {%- do day_types.update({column.name: column.data_type}) -%}
      {%- endfor -%}
    {%- endif %}
    select
        mart.{{ entity_key }},
        {{ utc_date('mart.event_timestamp') }} as snapshot_date,
        {%- for f in features if not f.aggregate %}
        {%- if f.enters in day_types %}
        cast(mart.{{ f.name }} as {{ day_types[f.enters] }}) as {{ f.name }},
        {%- else %}
        mart.{{ f.name }},
        {%- endif %}
        {%- endfor %}
        {%- for column in extra_columns %}
        mart.{{ column }},
        {%- endfor %}
        {{ utc_date('mart.created_timestamp') }} as arrived_by_date
    from {{ rows_to_carry_from(floor) }} as mart
    inner join rebuilt using ({{ entity_key }})
    where mart.event_timestamp < {{ utc_midnight('rebuilt.resume_date') }}
    qualify row_number() over (
        partition by mart.{{ entity_key }} order by mart.event_timestamp desc
    ) = 1
{%- endmacro -%}


{#-
  Post-hook of the feature marts: write the table as Parquet partitions by snapshot date
  (service/pitstop/feature_tables.py) under the output root's features/<model>/ (the
  quarantine, also a table kept in the warehouse, as one file where dbt-duckdb's external
  materialization would put it, macros/external_location.sql). On Spark the
  marts are built whole by the `external` materialization (dbt_project.yml), which writes the
  file itself: nothing to do there (an empty hook is skipped).

  Under `pitstop build` (var export_partitions) the output root is the build's pending folder,
  published only when every model and test passed: an incremental run writes only the dates of
  the rows it inserted (dbt-duckdb's temporary table of the run's rows is still there when the
  post-hook runs), every row of each of those dates, and a full build every date; a zero-row
  _schema file beside them says which. Plain `dbt build` writes the whole table as
  data_<n>.parquet files into the folder (docs/architecture.md §4).
-#}
{%- macro export_to_parquet() -%}
  {{- return(adapter.dispatch('export_to_parquet')()) -}}
{%- endmacro -%}

{%- macro default__export_to_parquet() -%}
{%- endmacro -%}

{%- macro duckdb__export_to_parquet() -%}
  {%- set location = adapter.external_root() ~ '/features/' ~ this.identifier -%}
  {%- if config.get('folder', 'features') != 'features' -%}
    {#- the quarantine: one file, as dbt-duckdb's external materialization would write it -#}
    copy (select * from {{ this }}) to '{{ external_location(this, config) }}' (format parquet)
  {%- elif var('export_partitions', none) -%}
    {#- dbt-duckdb's temporary table of this run's rows: <model>__dbt_tmp<timestamp> -#}
    {%- set changed = scalar_at_run(
        "select max(table_name) from duckdb_tables() where temporary and starts_with(table_name, '"
        ~ this.identifier ~ "__dbt_tmp')"
    ) if var('export_partitions') == 'changed' else none -%}
    {%- set incremental = changed is not none -%}
    copy (
        select *, {{ utc_date('event_timestamp') }} as __pitstop_snapshot_date
        from {{ this }}
        {%- if incremental %}
        where event_timestamp >= (select min(event_timestamp) from "{{ changed }}")
            and {{ utc_date('event_timestamp') }} in (
                select distinct {{ utc_date('event_timestamp') }} from "{{ changed }}"
            )
        {%- endif %}
    ) to '{{ location }}' (format parquet, partition_by (__pitstop_snapshot_date), overwrite true);
    copy (select * from {{ this }} limit 0) to '{{ location }}.schema.parquet'
        (format parquet, kv_metadata {pitstop_export: '{{ "changed" if incremental else "full" }}'})
  {%- else -%}
    copy (select * from {{ this }}) to '{{ location }}' (format parquet, per_thread_output true, overwrite true)
  {%- endif -%}
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
