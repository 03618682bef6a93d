{#-
  dbt-duckdb's `external` materialization (the marts and the quarantine) on Spark: the same
  table written as Parquet at the same place, <output root>/<folder>/<model>.parquet. Spark
  writes a folder of part files there; `pitstop build` merges it into one Parquet file, so
  Feast, DuckDB and pyarrow read the same single file whichever engine built it.

  The contract (column names and DuckDB's type names) is enforced by the DuckDB build; on Spark
  the parity tests compare the files' schemas with the DuckDB build's instead.
-#}
{%- macro spark_external_location(relation, config) -%}
  {{- env_var('PITSTOP_OUTPUT_ROOT', data_dir()) }}/{{ config.get('folder', 'features') }}/{{ relation.identifier }}.parquet
{%- endmacro -%}

{% materialization external, adapter='spark' %}
  {%- set location = spark_external_location(this, config) -%}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set existing_relation = load_cached_relation(this) -%}

  {{ run_hooks(pre_hooks) }}

  {%- if existing_relation is not none -%}
    {{ adapter.drop_relation(existing_relation) }}
  {%- endif -%}

  {% call statement('main') -%}
    create table {{ target_relation }}
    using parquet
    location '{{ location }}'
    as
    {{ sql }}
  {%- endcall %}

  {{ run_hooks(post_hooks) }}

  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}


{#-
  stg_events__lines is incremental with DuckDB's delete+insert strategy, which dbt-spark does not
  know. On Spark the catalog is in memory (service/pitstop/build/spark_session.py): every build starts
  without the table, so an incremental model is always built whole and the strategy never runs.
  Accept it here; should a persistent catalog ever make it run, dbt-spark's get_incremental_sql
  fails loudly ("No known SQL for the incremental strategy").
-#}
{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) %}
  {%- if raw_strategy == 'delete+insert' -%}
    {{ return(raw_strategy) }}
  {%- endif -%}
  {{ return(dbt_spark.dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format)) }}
{% endmacro %}
