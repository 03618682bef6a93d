{{
  config(
    materialized=('external' if target.type == 'spark' else 'incremental'),
    incremental_strategy='append',
    pre_hook="{{ delete_redone_partitions() }}",
    post_hook="{{ export_to_parquet() }}",
    folder='quarantine'
  )
}}

{#-
  Every rejected raw line with its file, line number, raw text and the first rule it breaks.
  Written as Parquet to <data>/quarantine/ so it can be read without opening the warehouse.

  Incremental on DuckDB like the marts (a table in the warehouse, exported by the post-hook):
  a run deletes the partitions it redoes and appends their rejected lines again, so a partition
  whose file was replaced by a clean one loses its old rows (delete+insert by arrival_date
  would keep them: it deletes only the dates it inserts). Spark builds it whole.
-#}

with

lines as (

    select * from {{ ref('stg_events__lines') }}
    {%- if is_incremental() %}
    where arrival_date >= {{ redo_since('arrival_date', var('lookback_days')) }}
    {%- endif %}

),

final as (

    select
        file_path,
        arrival_date,
        line_number,
        rejection_reason,
        raw_line
    from lines
    where rejection_reason is not null

)

select * from final
