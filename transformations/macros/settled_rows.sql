{#-
  Settled rows (transformations/README.md, "Incremental daily runs"). A daily run starts each
  rebuilt entity of a sparse-snapshot mart from its last row before its resume date
  (carried_state), and that row can be of any age. So that a run need not scan the mart's whole
  history to find it, each such mart keeps two tables beside it in the warehouse (DuckDB):

  - `<mart>__settled_before`: one date S, the mart's newest snapshot date minus
    vars.settled_after_days;
  - `<mart>__settled`: each entity's latest row before S (at most one row per entity).

  A run whose resume dates are all on or after S (its new events are at most that many days
  late) takes each entity's last row from the mart's rows from S on and the settled rows: a
  read of those days and of one row per entity, not of the history. A run with older news
  reads the whole mart, as before (correct, slower). After each run, the post-hook
  keep_settled_rows moves S on and the latest rows of the days it passes into `<mart>__settled`
  (on a daily run, one day's rows); after a full build, or a run that rewrote rows before the
  old S, it rebuilds both tables from the mart. Spark builds every mart whole: nothing to keep.
-#}

{#- This mart's settled rows and their bound S as [relation, date]; [none, none] without them. -#}
{%- macro settled_rows_of(mart) -%}
  {%- if not execute -%}{{ return([none, none]) }}{%- endif -%}
  {%- set rows = adapter.get_relation(database=mart.database, schema=mart.schema, identifier=mart.identifier ~ '__settled') -%}
  {%- set bound = adapter.get_relation(database=mart.database, schema=mart.schema, identifier=mart.identifier ~ '__settled_before') -%}
  {%- if rows is none or bound is none -%}{{ return([none, none]) }}{%- endif -%}
  {{- return([rows, scalar_at_run('select max(settled_before) from ' ~ bound)]) -}}
{%- endmacro -%}


{#-
  The rows carried_state looks for an entity's last row in, as a relation expression: the
  mart's rows from S on and the settled rows when every resume date is on or after S (`floor`,
  a constant no later than any of them: earliest_resume_date), else the whole mart.
-#}
{%- macro rows_to_carry_from(floor) -%}
  {%- set settled, bound = settled_rows_of(this) -%}
  {%- set recent = bound is not none and scalar_at_run("select " ~ floor ~ " >= date '" ~ bound ~ "'") -%}
  {%- if recent -%}
    (
        select * from {{ this }} where event_timestamp >= {{ utc_midnight("date '" ~ bound ~ "'") }}
        union all by name
        select * from {{ settled }}
    )
  {%- else -%}
    {{ this }}
  {%- endif -%}
{%- endmacro -%}


{#- Post-hook of the sparse-snapshot marts: keep `<mart>__settled` (above) up to date. -#}
{%- macro keep_settled_rows(entity_key) -%}
  {{- return(adapter.dispatch('keep_settled_rows')(entity_key)) -}}
{%- endmacro -%}

{%- macro default__keep_settled_rows(entity_key) -%}
{%- endmacro -%}

{%- macro duckdb__keep_settled_rows(entity_key) -%}
  {%- if execute -%}
    {%- set rows = this.incorporate(path={'identifier': this.identifier ~ '__settled'}) -%}
    {%- set bound = this.incorporate(path={'identifier': this.identifier ~ '__settled_before'}) -%}
    {%- set new_bound = '(select ' ~ utc_date('max(event_timestamp)') ~ ' - '
        ~ (var('settled_after_days') | int) ~ ' from ' ~ this ~ ')' -%}
    {#- dbt-duckdb's temporary table of this run's rows (an incremental run only) -#}
    {%- set changed = scalar_at_run(
        "select max(table_name) from duckdb_tables() where temporary and starts_with(table_name, '"
        ~ this.identifier ~ "__dbt_tmp')"
    ) -%}
    {%- set old_bound = settled_rows_of(this)[1] -%}
    {%- set earliest_written = scalar_at_run(
        'select min(' ~ utc_date('event_timestamp') ~ ') from "' ~ changed ~ '"'
    ) if changed is not none else none -%}
    {#- a full build or --full-refresh has no such table: it rebuilds the settled rows -#}
    {%- set moves_on = old_bound is not none and changed is not none
        and (earliest_written is none or earliest_written >= old_bound) -%}
    {%- if moves_on %}
    -- rows before the old S are as they were: move in the latest rows of the days up to the new S
    create or replace temporary table __pitstop_newly_settled as
    select * from {{ this }}
    where event_timestamp >= {{ utc_midnight("date '" ~ old_bound ~ "'") }}
        and event_timestamp < {{ utc_midnight(new_bound) }}
    qualify row_number() over (partition by {{ entity_key }} order by event_timestamp desc) = 1;
    delete from {{ rows }} where {{ entity_key }} in (select {{ entity_key }} from __pitstop_newly_settled);
    insert into {{ rows }} by name select * from __pitstop_newly_settled;
    update {{ bound }} set settled_before = greatest(settled_before, {{ new_bound }});
    drop table __pitstop_newly_settled
    {%- else %}
    create or replace table {{ rows }} as
    select * from {{ this }}
    where event_timestamp < {{ utc_midnight(new_bound) }}
    qualify row_number() over (partition by {{ entity_key }} order by event_timestamp desc) = 1;
    create or replace table {{ bound }} as select {{ new_bound }} as settled_before
    {%- endif %}
  {%- endif -%}
{%- endmacro -%}
