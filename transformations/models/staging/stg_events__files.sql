{#-
  One row per raw file: the arrival partitions that exist, even when a file holds no lines.
  Reads file metadata only, never the content.
-#}

with

raw_files as (

    select filename, size, last_modified from {{ source('events', 'raw') }}
    where {{ arrived_by_run_date('filename') }}

),

final as (

    select
        filename as file_path,
        {{ arrival_date_of('filename') }} as arrival_date,
        size as size_bytes,
        last_modified
    from raw_files

)

select * from final
