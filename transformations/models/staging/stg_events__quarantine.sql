{{ config(materialized='external', folder='quarantine') }}

{#-
  Every rejected raw line with its file, line number, raw text and the first rule it breaks.
  Written as Parquet to <data>/quarantine/ so it can be read without opening the warehouse.
-#}

with

lines as (

    select * from {{ ref('stg_events__lines') }}

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
