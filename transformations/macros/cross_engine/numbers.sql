{#-
  n / d, null when d is 0, as a double. DuckDB divides decimals as doubles; Spark's decimal
  division keeps 6 decimal places, so a ratio of money would differ in the 7th digit: Spark
  divides the double of n instead, which is what DuckDB does.
-#}
{%- macro divide(n, d) -%}
  {{- return(adapter.dispatch('divide')(n, d)) -}}
{%- endmacro -%}

{%- macro duckdb__divide(n, d) -%}
  {{ n }} / nullif({{ d }}, 0)
{%- endmacro -%}

{%- macro spark__divide(n, d) -%}
  cast({{ n }} as double) / nullif({{ d }}, 0)
{%- endmacro -%}
