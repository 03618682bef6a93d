{#-
  Date helpers shared by the models; each dispatches to the engine's version. DuckDB's are in
  macros/dates.sql. Spark's compute from epoch numbers, so they do not depend on the session
  time zone (pinned to UTC anyway, service/pitstop/build/spark_session.py).
-#}

{#- The UTC calendar day of a timestamp. -#}
{%- macro utc_date(ts) -%}
  {{- return(adapter.dispatch('utc_date')(ts)) -}}
{%- endmacro -%}

{%- macro spark__utc_date(ts) -%}
  date_from_unix_date(cast(floor(unix_micros({{ ts }}) / 86400000000) as int))
{%- endmacro -%}


{#- The UTC midnight that starts a date, as a timestamp (a snapshot time T). -#}
{%- macro utc_midnight(day) -%}
  {{- return(adapter.dispatch('utc_midnight')(day)) -}}
{%- endmacro -%}

{%- macro spark__utc_midnight(day) -%}
  timestamp_seconds(cast(unix_date(cast({{ day }} as date)) as bigint) * 86400)
{%- endmacro -%}


{#- The arrival day of a raw file, from its date=YYYY-MM-DD folder. -#}
{%- macro arrival_date_of(file_path) -%}
  {{- return(adapter.dispatch('arrival_date_of')(file_path)) -}}
{%- endmacro -%}

{%- macro spark__arrival_date_of(file_path) -%}
  {#- r'' keeps the backslashes: Spark's plain string literals treat them as escapes -#}
  cast(regexp_extract({{ file_path }}, r'date=(\d{4}-\d{2}-\d{2})', 1) as date)
{%- endmacro -%}


{#- One row per date from start to stop (inclusive) every step_days days, as a select item. -#}
{%- macro date_series(start, stop, step_days) -%}
  {{- return(adapter.dispatch('date_series')(start, stop, step_days)) -}}
{%- endmacro -%}

{%- macro duckdb__date_series(start, stop, step_days) -%}
  cast(unnest(generate_series({{ start }}, {{ stop }}, interval {{ step_days }} day)) as date)
{%- endmacro -%}

{%- macro spark__date_series(start, stop, step_days) -%}
  {#- Spark's sequence() fails where DuckDB's generate_series() is empty: stop before start -#}
  explode(case when {{ start }} <= {{ stop }}
      then sequence({{ start }}, {{ stop }}, interval {{ step_days }} day) end)
{%- endmacro -%}


{#- Days from date a to date b (b - a), as an integer. -#}
{%- macro days_between(a, b) -%}
  {{- return(adapter.dispatch('days_between')(a, b)) -}}
{%- endmacro -%}

{%- macro duckdb__days_between(a, b) -%}
  ({{ b }} - {{ a }})
{%- endmacro -%}

{%- macro spark__days_between(a, b) -%}
  datediff({{ b }}, {{ a }})
{%- endmacro -%}
