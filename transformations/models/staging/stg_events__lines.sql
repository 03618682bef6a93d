{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='arrival_date',
    on_schema_change='fail'
  )
}}

{%- set event_fields = [
    'event_id', 'event_type', 'user_id', 'ts', 'session_id',
    'item_id', 'price', 'quantity', 'device', 'country',
] -%}

{#-
  Every raw line, parsed and typed, with the first rule it breaks (ARCHITECTURE §2) in
  rejection_reason, or null when the line is a valid event. Incremental by arrival partition:
  a run re-reads the newest `lookback_days` partitions plus anything newer.
-#}

with

raw_files as (

    select
        filename as file_path,
        {{ arrival_date_of('filename') }} as arrival_date,
        content
    from {{ source('events', 'raw') }}
    where {{ arrived_by_run_date('filename') }}
    {% if is_incremental() %}
        -- a date literal, so DuckDB skips the older files without reading them
        and {{ arrival_date_of('filename') }} >= {{ high_water_date('arrival_date', var('lookback_days')) }}
    {% endif %}

),

split_files as (

    -- One pass per file, one CTE reference (a CTE used twice is materialized whole). The usual
    -- file is UTF-8 and is split on newlines; a file with bytes that are not UTF-8 is split on
    -- byte-aligned 0A in its hex form instead, so only its offending lines are rejected and
    -- every line keeps its number. A final newline ends the last line; it starts no new one.
    select
        file_path,
        arrival_date,
        string_split(text_content, chr(10)) as text_parts,
        case when text_content = '' or ends_with(text_content, chr(10)) then 1 else 0 end
            as final_newline,
        case when text_content is null then regexp_extract_all(
            case when ends_with(hex(content), '0A') then hex(content) else hex(content) || '0A' end,
            '((?:[0-9A-F]{2})*?)0A',
            1
        ) end as hex_parts
    from (select *, try(decode(content)) as text_content from raw_files)

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
    from fields

),

timestamps as (

    -- RFC 3339 date-time; an offset converts to UTC, no offset means UTC (ARCHITECTURE §2)
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

),

validated as (

    select
        *,
        event_type in ('page_view', 'add_to_cart', 'purchase', 'refund') as needs_item,
        event_type in ('purchase', 'refund') as needs_price,
        case
            when not is_utf8 then 'invalid_utf8'
            when not is_json then 'malformed_json'
            when doc_type <> 'OBJECT' then 'not_an_object'
            when event_id_type is null then 'missing_event_id'
            when event_id_type <> 'VARCHAR' or event_id = '' then 'invalid_event_id'
            when event_type_type is null then 'missing_event_type'
            when event_type_type <> 'VARCHAR' then 'invalid_event_type'
            when event_type not in (
                'page_view', 'search', 'add_to_cart', 'purchase', 'refund', 'login', 'support_ticket'
            ) then 'unknown_event_type'
            when user_id_type is null then 'missing_user_id'
            when user_id_type not in ('BIGINT', 'UBIGINT') or user_id is null or user_id <= 0
                then 'invalid_user_id'
            when ts_type is null then 'missing_ts'
            when ts_type <> 'VARCHAR' or event_at is null then 'invalid_ts'
            when item_id_type is null
                and event_type in ('page_view', 'add_to_cart', 'purchase', 'refund')
                then 'missing_item_id'
            when item_id_type is not null
                and (item_id_type not in ('BIGINT', 'UBIGINT') or item_id is null or item_id <= 0)
                then 'invalid_item_id'
            when price_type is null and event_type in ('purchase', 'refund') then 'missing_price'
            when price_type is not null
                and (price_type not in ('BIGINT', 'UBIGINT', 'DOUBLE') or price is null)
                then 'invalid_price'
            when price < 0 then 'negative_price'
            when quantity_type is not null and event_type in ('purchase', 'refund')
                and (quantity_type not in ('BIGINT', 'UBIGINT') or quantity is null or quantity < 1)
                then 'invalid_quantity'
            when session_id_type is not null and session_id_type <> 'VARCHAR' then 'invalid_session_id'
            when device_type is not null and device_type <> 'VARCHAR' then 'invalid_device'
            when country_type is not null and country_type <> 'VARCHAR' then 'invalid_country'
        end as rejection_reason
    from event_times

),

final as (

    select
        -- ---- where the line came from ----
        file_path,
        arrival_date,
        line_number,
        raw_line,
        rejection_reason,

        -- ---- the event, typed (null on rejected lines) ----
        case when rejection_reason is null then event_id end as event_id,
        case when rejection_reason is null then event_type end as event_type,
        case when rejection_reason is null then user_id end as user_id,
        case when rejection_reason is null then event_at end as event_at,
        case when rejection_reason is null then session_id end as session_id,
        case when rejection_reason is null and needs_item then item_id end as item_id,
        case when rejection_reason is null and needs_price then price end as price,
        case when rejection_reason is null and needs_price then coalesce(quantity, 1) end as quantity,
        case when rejection_reason is null then device end as device,
        case when rejection_reason is null then country end as country
    from validated

)

select * from final
