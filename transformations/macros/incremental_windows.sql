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
  latest_arrival_date):

  - entities with day rows that arrived since the mart's last run (its newest created_timestamp
    is the newest arrival + 1 day), minus the lookback;
  - entities with a change row that falls into the snapshot dates newly covered by the data,
    after the mart's newest event_timestamp: a day's entry (d + 1) or its exit from an N-day
    window (d + N + 1, for N in `lengths`);
  - every entity, when a Monday (the keep-alive rows) is newly covered.

  Each of them is recomputed whole, so the rows are those a full rebuild would write.
-#}
{%- macro rebuilt_entities(days_relation, entity_key, lengths) -%}
    {%- set since = high_water_date('created_timestamp', var('lookback_days') + 1) -%}
    {%- set old_end = high_water_date('event_timestamp') -%}
    select distinct days.{{ entity_key }}
    from {{ days_relation }} as days
    cross join (select coverage_end_date as new_end from {{ ref('int_data_coverage') }}) as coverage
    where days.latest_arrival_date >= {{ since }}
        or days.activity_date + 1 > {{ old_end }}
        {%- for n in lengths | sort %}
        or (days.activity_date + {{ n + 1 }} > {{ old_end }}
            and days.activity_date + {{ n + 1 }} <= coverage.new_end)
        {%- endfor %}
        or cast(date_trunc('week', coverage.new_end) as date) > {{ old_end }}
{%- endmacro -%}


{#-
  Post-hook of the feature marts: write the table as Parquet where dbt-duckdb's external
  materialization would (macros/external_location.sql), i.e. into `pitstop build`'s pending
  folder, published only when every model and test passed. On Spark the marts are built whole
  by the `external` materialization (feature_mart_materialization), which writes the file
  itself: nothing to do there (an empty hook is skipped).
-#}
{%- macro export_feature_table() -%}
  {{- return(adapter.dispatch('export_feature_table')()) -}}
{%- endmacro -%}

{%- macro default__export_feature_table() -%}
{%- endmacro -%}

{%- macro duckdb__export_feature_table() -%}
    copy (select * from {{ this }}) to '{{ external_location(this, config) }}' (format parquet)
{%- endmacro -%}


{#-
  The materialization of the incremental feature marts: incremental tables in the DuckDB
  warehouse (exported by export_feature_table); on Spark, whose catalog is in memory and so
  builds every model whole, the `external` materialization of cross_engine/spark_external.sql,
  which writes the same <output root>/features/<model>.parquet.
-#}
{%- macro feature_mart_materialization() -%}
  {{- return('external' if target.type == 'spark' else 'incremental') -}}
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
