{#-
  The raw JSON-lines read and parse (docs/architecture.md §2), per engine. The validation rules
  themselves (which rule a line breaks first) stay in stg_events__lines, shared: these macros
  only split files into lines, parse JSON and report each field's JSON type in DuckDB's words
  (VARCHAR, BIGINT, UBIGINT, DOUBLE, BOOLEAN, OBJECT, ARRAY; null when absent or JSON null).
-#}

{#-
  The source events.raw on Spark: dbt-duckdb reads it with read_blob (the source's
  external_location); Spark gets a view over its binaryFile reader with read_blob's columns,
  created at the start of each run (on-run-start in dbt_project.yml). Nothing to do on DuckDB.
  As on DuckDB the source's content is the file as stored; raw_files_arrived decompresses.
-#}

{#- The globs of the raw files in `folder` (a partition, or date=* for all): vars.raw_file_patterns. -#}
{%- macro raw_file_globs(folder) -%}
  {%- set globs = [] -%}
  {%- for pattern in var('raw_file_patterns') -%}
    {%- do globs.append(folder ~ '/' ~ pattern) -%}
  {%- endfor -%}
  {{- return(globs) -}}
{%- endmacro -%}

{#- A DuckDB list literal of the raw file globs in each of `folders`. -#}
{%- macro duckdb__raw_glob_list(folders) -%}
  [
  {%- for folder in folders -%}
    {%- for glob in raw_file_globs(folder) -%}
      '{{ glob }}'{{ ', ' if not loop.last }}
    {%- endfor -%}{{ ', ' if not loop.last }}
  {%- endfor -%}
  ]
{%- endmacro -%}
{%- macro create_raw_events_relation() -%}
  {{- return(adapter.dispatch('create_raw_events_relation')()) -}}
{%- endmacro -%}

{%- macro duckdb__create_raw_events_relation() -%}
  select 1
{%- endmacro -%}

{%- macro spark__create_raw_events_relation() -%}
  {#- what source('events', 'raw') names on Spark (the source's default schema and table) -#}
  {%- set source_relation = api.Relation.create(schema='events', identifier='raw') -%}
  {%- do run_query('create schema if not exists ' ~ source_relation.schema) -%}
  create or replace view {{ source_relation }} as
  select
      -- read_blob's names; Spark reports paths as file: URIs
      regexp_replace(path, '^file:', '') as filename,
      content,
      length as size,
      modificationTime as last_modified
  from binaryFile.`{{ data_dir() }}/raw/events/date=*/{ {{- var('raw_file_patterns') | join(',') -}} }`
  {#- Spark's file sources skip empty files, but an empty file still says its arrival day has
      passed (int_data_coverage): `pitstop build` lists them in this variable. -#}
  {%- for file in var('spark_empty_raw_files', []) %}
  union all
  select
      '{{ file.path | replace("\\", "\\\\") | replace("'", "\\'") }}',
      cast('' as binary),
      cast(0 as bigint),
      timestamp_micros({{ file.modified_micros }})
  {%- endfor %}
{%- endmacro -%}


{#-
  The lines of raw_files (columns file_path, arrival_date, content), parsed: the columns
  stg_events__lines validates (see the DuckDB version for the list).
-#}
{%- macro parse_event_lines(raw_files, event_fields) -%}
  {{- return(adapter.dispatch('parse_event_lines')(raw_files, event_fields)) -}}
{%- endmacro -%}

{%- macro duckdb__parse_event_lines(raw_files, event_fields) -%}
    with

    split_files as (

        -- One pass per file, one CTE reference (a CTE used twice is materialized whole). The usual
        -- file is UTF-8 and is split on newlines; a file with bytes that are not UTF-8 is split on
        -- byte-aligned 0A in its hex form instead, so only its offending lines are rejected and
        -- every line keeps its number. A final newline ends the last line; it starts no new one.
        -- A text without a single line feed but with carriage returns (classic Mac OS) ends its
        -- lines with those.
        select
            file_path,
            arrival_date,
            string_split(text_content, line_end) as text_parts,
            case when text_content = '' or ends_with(text_content, line_end) then 1 else 0 end
                as final_newline,
            case when text_content is null then regexp_extract_all(
                case when ends_with(hex(content), '0A') then hex(content) else hex(content) || '0A' end,
                '((?:[0-9A-F]{2})*?)0A',
                1
            ) end as hex_parts
        -- a byte-order mark (spreadsheets and Windows tools write one) starts no line: dropped
        from (
            select
                *,
                case when contains(text_content, chr(10)) or not contains(text_content, chr(13))
                    then chr(10) else chr(13) end as line_end
            from (select *, ltrim(try(decode(content)), chr(65279)) as text_content from {{ raw_files }})
        )

    ),

    numbered_lines as (

        -- unnest pads the list that is null with nulls, so each row has one of text or hex line
        select
            file_path,
            arrival_date,
            unnest(generate_series(1, coalesce(len(text_parts) - final_newline, len(hex_parts))))
                as line_number,
            unnest(text_parts[1:len(text_parts) - final_newline]) as text_line,
            unnest(hex_parts) as hex_line
        from split_files

    ),

    raw_lines as (

        select
            file_path,
            arrival_date,
            line_number,
            coalesce(
                text_line,
                try(decode(unhex(hex_line))),
                cast(unhex(hex_line) as varchar)  -- bytes that are not UTF-8 kept as \xNN escapes
            ) as raw_line,
            text_line is not null or try(decode(unhex(hex_line))) is not null as is_utf8
        from numbered_lines

    ),

    parsed as (

        -- JSON counts a trailing carriage return (CRLF files) as whitespace, so lines are parsed as
        -- they are; the root is parsed twice (json_valid, json_type), each field list once below
        select
            *,
            case when is_json then json_type(raw_line) end as doc_type
        from (select *, is_utf8 and json_valid(raw_line) as is_json from raw_lines)

    ),

    fields as (

        -- one parse for the JSON types of every field, one for their values as text
        select
            *,
            case when doc_type = 'OBJECT' then json_type(raw_line, [
                {%- for field in event_fields -%}
                '$.{{ field }}'{{ ", " if not loop.last }}
                {%- endfor -%}
            ]) end as field_types,
            case when doc_type = 'OBJECT' then json_extract_string(raw_line, [
                {%- for field in event_fields -%}
                '$.{{ field }}'{{ ", " if not loop.last }}
                {%- endfor -%}
            ]) end as field_values
        from parsed

    ),

    typed as (

        select
            file_path,
            arrival_date,
            line_number,
            raw_line,
            is_utf8,
            is_json,
            doc_type,

            -- ---- field types as JSON sees them (null when the key is absent or null) ----
            {%- for field in event_fields %}
            nullif(field_types[{{ loop.index }}], 'NULL') as {{ field }}_type,
            {%- endfor %}

            -- ---- values ----
            {%- set value = {} %}
            {%- for field in event_fields %}{% do value.update({field: 'field_values[' ~ loop.index ~ ']'}) %}{% endfor %}
            {{ value.event_id }} as event_id,
            {{ value.event_type }} as event_type,
            try_cast({{ value.user_id }} as bigint) as user_id,
            {{ value.ts }} as ts_text,
            {{ value.session_id }} as session_id,
            try_cast({{ value.item_id }} as bigint) as item_id,
            try_cast({{ value.price }} as decimal(18, 6)) as price,
            try_cast({{ value.quantity }} as bigint) as quantity,
            {{ value.device }} as device,
            {{ value.country }} as country
            {%- for name, kind in extra_event_fields().items() %},
            {% if kind == 'number' %}try_cast({{ value[name] }} as decimal(18, 6)){% else %}{{ value[name] }}{% endif %} as {{ name }}
            {%- endfor %}
        from fields

    ),

    timestamps as (

        -- RFC 3339 date-time; an offset converts to UTC, no offset means UTC
        -- (docs/architecture.md §2)
        select
            *,
            regexp_full_match(
                ts_text,
                '\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?'
            ) as ts_well_formed,
            regexp_full_match(ts_text, '.*([Zz]|[+-]\d{2}:\d{2})') as ts_has_offset
        from typed

    ),

    event_times as (

        select
            *,
            case
                when ts_well_formed then
                    try_cast(
                        case when ts_has_offset then ts_text else ts_text || '+00:00' end
                        as timestamptz
                    )
            end as event_at
        from timestamps

    )

    select * from event_times
{%- endmacro -%}


{#- A JSON type as Spark's schema_of_variant() names it, in DuckDB's json_type() words. -#}
{%- macro spark__json_kind(schema) -%}
    case
        when {{ schema }} like 'OBJECT%' then 'OBJECT'
        when {{ schema }} like 'ARRAY%' then 'ARRAY'
        when {{ schema }} = 'STRING' then 'VARCHAR'
        when {{ schema }} in ('BIGINT', 'INT', 'SMALLINT', 'TINYINT') then 'BIGINT'
        -- an integer too large for BIGINT: DuckDB says UBIGINT (then fails the BIGINT cast)
        when {{ schema }} like 'DECIMAL(%,0)' then 'UBIGINT'
        when {{ schema }} like 'DECIMAL%' then 'DOUBLE'
        when {{ schema }} in ('DOUBLE', 'FLOAT') then 'DOUBLE'
        when {{ schema }} = 'BOOLEAN' then 'BOOLEAN'
        when {{ schema }} = 'VOID' then 'NULL'
    end
{%- endmacro -%}

{%- macro spark__parse_event_lines(raw_files, event_fields) -%}
    with

    split_files as (

        -- As on DuckDB: a UTF-8 file is split on newlines (on carriage returns when it has no
        -- line feed but has those), any other on byte-aligned 0A in its hex form, so only its
        -- offending lines are rejected; a final newline starts no line.
        select
            file_path,
            arrival_date,
            case when text_content is not null then slice(
                split(text_content, line_end, -1),
                1,
                size(split(text_content, line_end, -1))
                    - case when text_content = '' or endswith(text_content, line_end) then 1 else 0 end
            ) end as text_parts,
            case when text_content is null then regexp_extract_all(
                case when endswith(hex(content), '0A') then hex(content) else concat(hex(content), '0A') end,
                r'((?:[0-9A-F]{2})*?)0A',
                1
            ) end as hex_parts
        from (
            select
                *,
                case when contains(text_content, chr(10)) or not contains(text_content, chr(13))
                    then chr(10) else chr(13) end as line_end
            from (
                select
                    *,
                    -- as on DuckDB: a leading byte-order mark is dropped
                    case when is_valid_utf8(cast(content as string))
                        then regexp_replace(cast(content as string), r'^\x{FEFF}+', '') end
                        as text_content
                from {{ raw_files }}
            )
        )

    ),

    numbered_lines as (

        select
            file_path,
            arrival_date,
            part.pos + 1 as line_number,
            case when text_parts is not null then part.col end as text_line,
            case when text_parts is null then part.col end as hex_line
        from split_files
        lateral view posexplode(coalesce(text_parts, hex_parts)) part as pos, col

    ),

    raw_lines as (

        select
            file_path,
            arrival_date,
            line_number,
            coalesce(
                text_line,
                case when is_valid_utf8(cast(unhex(hex_line) as string))
                    then cast(unhex(hex_line) as string) end,
                -- bytes that are not UTF-8 kept as \xNN escapes (printable ASCII as is)
                array_join(transform(
                    regexp_extract_all(hex_line, '([0-9A-F]{2})', 1),
                    byte -> case when conv(byte, 16, 10) between 32 and 126
                        then cast(unhex(byte) as string) else concat('\\x', byte) end
                ), '')
            ) as raw_line,
            text_line is not null or is_valid_utf8(cast(unhex(hex_line) as string)) as is_utf8
        from numbered_lines

    ),

    parsed as (

        select
            file_path,
            arrival_date,
            line_number,
            raw_line,
            is_utf8,
            case when is_utf8 then try_parse_json(trim(trailing chr(13) from raw_line)) end as doc
        from raw_lines

    ),

    schemas as (

        -- each field's JSON type, once (schema_of_variant names it; null when the key is absent)
        select
            *,
            {%- for field in event_fields %}
            schema_of_variant(variant_get(doc, '$.{{ field }}')) as {{ field }}_schema,
            {%- endfor %}
            schema_of_variant(doc) as doc_schema
        from parsed

    ),

    typed as (

        select
            file_path,
            arrival_date,
            line_number,
            raw_line,
            is_utf8,
            doc is not null as is_json,
            {{ spark__json_kind('doc_schema') }} as doc_type,

            -- ---- field types as JSON sees them (null when the key is absent or null) ----
            {%- for field in event_fields %}
            nullif({{ spark__json_kind(field ~ '_schema') }}, 'NULL') as {{ field }}_type,
            {%- endfor %}

            -- ---- values ----
            try_variant_get(doc, '$.event_id', 'string') as event_id,
            try_variant_get(doc, '$.event_type', 'string') as event_type,
            try_variant_get(doc, '$.user_id', 'bigint') as user_id,
            try_variant_get(doc, '$.ts', 'string') as ts_text,
            try_variant_get(doc, '$.session_id', 'string') as session_id,
            try_variant_get(doc, '$.item_id', 'bigint') as item_id,
            try_variant_get(doc, '$.price', 'decimal(18, 6)') as price,
            try_variant_get(doc, '$.quantity', 'bigint') as quantity,
            try_variant_get(doc, '$.device', 'string') as device,
            try_variant_get(doc, '$.country', 'string') as country
            {%- for name, kind in extra_event_fields().items() %},
            try_variant_get(doc, '$.{{ name }}', '{{ 'decimal(18, 6)' if kind == 'number' else 'string' }}') as {{ name }}
            {%- endfor %}
        from schemas

    ),

    timestamps as (

        -- RFC 3339 date-time; an offset converts to UTC, no offset means UTC
        -- (docs/architecture.md §2)
        select
            *,
            ts_text rlike r'^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?$'
                as ts_well_formed,
            ts_text rlike r'([Zz]|[+-]\d{2}:\d{2})$' as ts_has_offset
        from typed

    ),

    event_times as (

        -- upper(): Spark's cast knows T and Z, not t and z
        select
            *,
            case
                when ts_well_formed then
                    try_cast(
                        upper(case when ts_has_offset then ts_text else concat(ts_text, '+00:00') end)
                        as timestamp
                    )
            end as event_at
        from timestamps

    )

    select * from event_times
{%- endmacro -%}


{#-
  Physical lines of a raw file's content (newlines, plus a last line without one), counted
  independently of parse_event_lines, for the accounting test.
-#}
{%- macro raw_file_lines(content) -%}
  {{- return(adapter.dispatch('raw_file_lines')(content)) -}}
{%- endmacro -%}

{#- Line feeds, plus a last line without one; in a UTF-8 text without a single line feed but
    with carriage returns, those (parse_event_lines' rule, counted here another way). -#}
{%- macro duckdb__raw_file_lines(content) -%}
    case
        when try(decode({{ content }})) is not null
            and not contains(try(decode({{ content }})), chr(10))
            and contains(try(decode({{ content }})), chr(13)) then
            length(try(decode({{ content }})))
                - length(replace(try(decode({{ content }})), chr(13), ''))
            + case when not ends_with(try(decode({{ content }})), chr(13)) then 1 else 0 end
        when try(decode({{ content }})) is not null then
            length(try(decode({{ content }})))
                - length(replace(try(decode({{ content }})), chr(10), ''))
            + case when try(decode({{ content }})) <> ''
                and not ends_with(try(decode({{ content }})), chr(10)) then 1 else 0 end
        else
            len(regexp_extract_all(hex({{ content }}) || '0A', '(?:[0-9A-F]{2})*?0A'))
            - case when ends_with(hex({{ content }}), '0A') then 1 else 0 end
    end
{%- endmacro -%}

{%- macro spark__raw_file_lines(content) -%}
    -- 0A bytes (Spark's strings compare bytes, valid UTF-8 or not), plus a last line without
    -- one; in a UTF-8 text without 0A but with carriage returns, those
    case
        when is_valid_utf8(cast({{ content }} as string))
            and not contains(cast({{ content }} as string), chr(10))
            and contains(cast({{ content }} as string), chr(13)) then
            octet_length({{ content }})
                - octet_length(replace(cast({{ content }} as string), chr(13), ''))
                + case when not endswith(cast({{ content }} as string), chr(13)) then 1 else 0 end
        else
            octet_length({{ content }})
                - octet_length(replace(cast({{ content }} as string), chr(10), ''))
                + case when octet_length({{ content }}) > 0
                    and not endswith(cast({{ content }} as string), chr(10)) then 1 else 0 end
    end
{%- endmacro -%}


{#-
  The raw files (read_blob's columns, content as its lines are read: a .gz file decompressed)
  that arrived from `since` (a date expression, or none for the first) up to run_date, as a
  relation to select from.

  On Spark, the source filtered on the arrival date of each file's path. On DuckDB a filter on
  the file name above read_blob made it hold the files' contents: an incremental run over one
  10M-user day (21 files, 5.6 GB) ran out of the build's 6 GB (and of 12 GB), and so did the
  same SELECT over two such days run by hand, while without the filter it fitted. So the
  partitions are listed first (glob(), file names only) and read_blob reads exactly their
  folders.
-#}
{%- macro raw_files_arrived(since=none) -%}
  {{- return(adapter.dispatch('raw_files_arrived')(since)) -}}
{%- endmacro -%}

{%- macro default__raw_files_arrived(since) -%}
  {#- Spark: pitstop_raw_content, a Python function the build registers on its session (Spark
      SQL has no gunzip; its text reader decompresses but ends lines at a lone carriage return
      too), decompresses .gz files and passes plain ones through: a Python function is
      evaluated on every row whatever a case around it says. A session function cannot be
      used in a persistent view, so not in the source's. -#}
  (
    select filename, pitstop_raw_content(filename, content) as content, size, last_modified
    from {{ source('events', 'raw') }}
    where {{ arrived_by_run_date('filename') }}
    {%- if since %}
        and {{ arrival_date_of('filename') }} >= {{ since }}
    {%- endif %}
  )
{%- endmacro -%}

{%- macro duckdb__raw_files_arrived(since) -%}
  {%- if not execute or (since is none and not var('run_date', none)) -%}
    {%- set files = source('events', 'raw') -%}
  {%- else -%}
    {%- set root = data_dir() ~ '/raw/events' -%}
    {%- set listing -%}
      select distinct {{ arrival_date_of('file') }} as arrival_date
      from glob({{ duckdb__raw_glob_list([root ~ '/date=*']) }})
      where {{ arrived_by_run_date('file') }}
      {%- if since %}
          and {{ arrival_date_of('file') }} >= {{ since }}
      {%- endif %}
      order by 1
    {%- endset -%}
    {%- set days = run_query(listing).columns[0].values() -%}
    {%- set folders = [] -%}
    {%- for day in days -%}{%- do folders.append(root ~ '/date=' ~ day) -%}{%- endfor -%}
    {%- if days -%}
      {%- set files = 'read_blob(' ~ duckdb__raw_glob_list(folders) ~ ')' -%}
    {%- else -%}
      {%- set files = '(select * from ' ~ source('events', 'raw') ~ ' where false)' -%}
    {%- endif -%}
  {%- endif %}
  (
    -- content as its lines are read: a .gz file decompressed and a UTF-16 one (its byte-order
    -- mark first) re-encoded as UTF-8 (pitstop_raw_content, registered by pitstop's dbt-duckdb
    -- plugin: DuckDB has no function that decompresses or decodes a blob); a case evaluates it
    -- on those rows only
    select * replace (
        case
            when suffix(filename, '.gz') or hex(content[1:2]) in ('FFFE', 'FEFF')
                then pitstop_raw_content(filename, content)
            else content
        end as content
    )
    from {{ files }}
  )
{%- endmacro -%}
