{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='arrival_date',
    on_schema_change='fail'
  )
}}

{%- set extra_fields = extra_event_fields() -%}
{%- set event_fields = [
    'event_id', 'event_type', 'user_id', 'ts', 'session_id',
    'item_id', 'price', 'quantity', 'device', 'country',
] + (extra_fields | list) -%}

{#-
  Every raw line, parsed and typed, with the first rule it breaks (docs/architecture.md §2) in
  rejection_reason, or null when the line is a valid event. Incremental by arrival partition:
  a run re-reads the partitions from redo_since on (macros/incremental_windows.sql): normally
  only the new one, from an older one on when a file in it is new, changed or gone. Rows
  older than the warehouse horizon are dropped after each build (macros/horizon.sql), and a run
  that would need them is refused.
-#}

{%- if is_incremental() %}{% do refuse_partitions_past_horizon() %}{% endif %}

with

raw_files as (

    select
        filename as file_path,
        {{ arrival_date_of('filename') }} as arrival_date,
        content
    from {{ raw_files_arrived(redo_since('arrival_date', var('lookback_days')) if is_incremental() else none) }}

),

event_times as (

    -- split into lines, parse the JSON, type the fields (dialects differ: cross_engine/)
    {{ parse_event_lines('raw_files', event_fields) }}

),

validated as (

    select
        *,
        -- ---- the vocabulary (vars.event_types): which type carries or requires a field ----
        {{ is_one_of('event_type', event_types_with('item_id')) }} as carries_item,
        {{ is_one_of('event_type', event_types_with('price')) }} as carries_price,
        case
            when not is_utf8 then 'invalid_utf8'
            when not is_json then 'malformed_json'
            when doc_type <> 'OBJECT' then 'not_an_object'
            when event_id_type is null then 'missing_event_id'
            when event_id_type <> 'VARCHAR' or event_id = '' then 'invalid_event_id'
            when event_type_type is null then 'missing_event_type'
            when event_type_type <> 'VARCHAR' then 'invalid_event_type'
            when not ({{ is_one_of('event_type', event_types()) }}) then 'unknown_event_type'
            when user_id_type is null then 'missing_user_id'
            when user_id_type not in ('BIGINT', 'UBIGINT') or user_id is null or user_id <= 0
                then 'invalid_user_id'
            when ts_type is null then 'missing_ts'
            when ts_type <> 'VARCHAR' or event_at is null then 'invalid_ts'
            -- nothing arrives before it happens (a day of clock slack), nor before 1970: one
            -- such event would stretch its entity's snapshots over centuries
            when event_at < {{ utc_midnight("date '1970-01-01'") }}
                or event_at >= {{ utc_midnight('arrival_date + 2') }} then 'ts_out_of_range'
            when item_id_type is null
                and {{ is_one_of('event_type', event_types_with('item_id', ['required'])) }}
                then 'missing_item_id'
            when item_id_type is not null
                and (item_id_type not in ('BIGINT', 'UBIGINT') or item_id is null or item_id <= 0)
                then 'invalid_item_id'
            when price_type is null
                and {{ is_one_of('event_type', event_types_with('price', ['required'])) }}
                then 'missing_price'
            when price_type is not null
                and (price_type not in ('BIGINT', 'UBIGINT', 'DOUBLE') or price is null)
                then 'invalid_price'
            when price < 0 then 'negative_price'
            when quantity_type is not null and {{ is_one_of('event_type', event_types_with('price')) }}
                and (quantity_type not in ('BIGINT', 'UBIGINT') or quantity is null or quantity < 1)
                then 'invalid_quantity'
            {#- context fields: optional on every type unless a type requires one -#}
            {%- for field in ['session_id', 'device', 'country'] %}
            when {{ field }}_type is null
                and {{ is_one_of('event_type', event_types_with(field, ['required'])) }}
                then 'missing_{{ field }}'
            when {{ field }}_type is not null and {{ field }}_type <> 'VARCHAR' then 'invalid_{{ field }}'
            {%- endfor %}
            {#- the fields of the user's own (vars.event_fields) -#}
            {%- for field, kind in extra_fields.items() %}
            when {{ field }}_type is null
                and {{ is_one_of('event_type', event_types_with(field, ['required'])) }}
                then 'missing_{{ field }}'
            when {{ field }}_type is not null
                and (not ({{ is_one_of(field ~ '_type', json_types_of(kind)) }}) or {{ field }} is null)
                then 'invalid_{{ field }}'
            {%- endfor %}
        end as rejection_reason
    from event_times

),

final as (

    select
        -- ---- where the line came from ----
        file_path,
        arrival_date,
        line_number,
        -- the raw text is kept for quarantined lines only: clean ones keep their typed fields
        case when rejection_reason is not null then raw_line end as raw_line,
        rejection_reason,

        -- ---- the event, typed (null on rejected lines) ----
        case when rejection_reason is null then event_id end as event_id,
        case when rejection_reason is null then event_type end as event_type,
        case when rejection_reason is null then user_id end as user_id,
        case when rejection_reason is null then event_at end as event_at,
        case when rejection_reason is null then session_id end as session_id,
        case when rejection_reason is null and carries_item then item_id end as item_id,
        case when rejection_reason is null and carries_price then price end as price,
        case when rejection_reason is null and carries_price then coalesce(quantity, 1) end as quantity,
        case when rejection_reason is null then device end as device,
        case when rejection_reason is null then country end as country
        {%- for field in extra_fields %},
        case when rejection_reason is null and {{ is_one_of('event_type', event_types_with(field)) }}
            then {{ field }} end as {{ field }}
        {%- endfor %}
    from validated

)

select * from final
