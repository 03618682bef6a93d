{#-
  UTC helpers. DuckDB's timestamptz arithmetic and casts follow the session time zone; the
  profile pins it to UTC, and these macros say so explicitly where a date boundary is made.
-#}

{#- The UTC calendar day of a timestamptz. -#}
{%- macro utc_date(ts) -%}
  cast(timezone('UTC', {{ ts }}) as date)
{%- endmacro -%}

{#- The UTC midnight that starts a date, as timestamptz (a snapshot time T). -#}
{%- macro utc_midnight(day) -%}
  timezone('UTC', cast({{ day }} as timestamp))
{%- endmacro -%}
