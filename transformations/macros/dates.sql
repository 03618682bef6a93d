{#-
  Date helpers, DuckDB's versions (the dispatching macros and Spark's are in
  cross_engine/dates.sql). DuckDB's timestamptz arithmetic and casts follow the session time
  zone; the profile pins it to UTC, and these macros say so explicitly where a date boundary is
  made.
-#}

{#- The UTC calendar day of a timestamptz. -#}
{%- macro duckdb__utc_date(ts) -%}
  cast(timezone('UTC', {{ ts }}) as date)
{%- endmacro -%}

{#- The UTC midnight that starts a date, as timestamptz (a snapshot time T). -#}
{%- macro duckdb__utc_midnight(day) -%}
  timezone('UTC', cast({{ day }} as timestamp))
{%- endmacro -%}


{#- The arrival day of a raw file, from its date=YYYY-MM-DD folder. -#}
{%- macro duckdb__arrival_date_of(file_path) -%}
  cast(regexp_extract({{ file_path }}, 'date=(\d{4}-\d{2}-\d{2})', 1) as date)
{%- endmacro -%}
