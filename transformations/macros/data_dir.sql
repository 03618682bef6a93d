{#- The data folder: PITSTOP_DATA_DIR, or the project's data/ when dbt runs from this folder. -#}
{%- macro data_dir() -%}
  {{- env_var('PITSTOP_DATA_DIR', '../data') -}}
{%- endmacro -%}
