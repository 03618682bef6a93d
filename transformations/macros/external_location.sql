{#-
  Overrides dbt-duckdb's default (external_root/<model>.parquet) to put each external model in
  a named sub-folder: feature tables in features/, rejected lines in quarantine/.
-#}
{%- macro external_location(relation, config) -%}
  {{- adapter.external_root() }}/{{ config.get('folder', 'features') }}/{{ relation.identifier }}.parquet
{%- endmacro -%}
