{#-
  The event vocabulary (vars.event_types in dbt_project.yml), for the models and tests that
  validate or aggregate events: the declared types, and the types that require or carry a field.
-#}

{%- macro event_types() -%}
  {%- set known = ['item_id', 'price', 'session_id', 'device', 'country']
      + (extra_event_fields() | list) -%}
  {%- for name, fields in var('event_types').items() -%}
    {%- do event_count_column(name) -%}
    {%- for field, level in (fields or {}).items() -%}
      {%- if field not in known or level not in ('required', 'optional') -%}
        {{ exceptions.raise_compiler_error(
            "vars.event_types: " ~ name ~ ": '" ~ field ~ ": " ~ level ~ "' should name one of "
            ~ known | join(', ') ~ " (declare a field of your own in vars.event_fields first) "
            ~ "as required or optional"
        ) }}
      {%- endif -%}
    {%- endfor -%}
  {%- endfor -%}
  {{- return(var('event_types') | list) -}}
{%- endmacro -%}

{#-
  The fields of the user's own (vars.event_fields): {name: 'string' | 'number'}, checked: a
  name is a column of the clean events, so it must be a new lowercase identifier.
-#}
{%- macro extra_event_fields() -%}
  {%- set declared = var('event_fields', {}) or {} -%}
  {%- set taken = ['event_id', 'event_type', 'user_id', 'ts', 'session_id', 'item_id', 'price',
      'quantity', 'device', 'country', 'event_at', 'event_date', 'arrival_date',
      'purchase_amount', 'file_path', 'line_number', 'raw_line', 'rejection_reason', 'doc'] -%}
  {%- for name, kind in declared.items() -%}
    {%- if not modules.re.fullmatch('[a-z][a-z0-9_]*', name) or name in taken
        or kind not in ('string', 'number') -%}
      {{ exceptions.raise_compiler_error(
          "vars.event_fields: '" ~ name ~ ": " ~ kind ~ "' should be a new lowercase name "
          ~ "(letters, digits, _; not one of " ~ taken | join(', ') ~ ") and string or number"
      ) }}
    {%- endif -%}
  {%- endfor -%}
  {{- return(declared) -}}
{%- endmacro -%}

{#- JSON types (in DuckDB's words, cross_engine/raw_events.sql) a field's value may have. -#}
{%- macro json_types_of(kind) -%}
  {{- return(['VARCHAR'] if kind == 'string' else ['BIGINT', 'UBIGINT', 'DOUBLE']) -}}
{%- endmacro -%}

{#- The types whose entry gives `field` one of `levels` ('required', 'optional'). -#}
{%- macro event_types_with(field, levels=('required', 'optional')) -%}
  {%- set chosen = [] -%}
  {%- for name, fields in var('event_types').items() -%}
    {%- if (fields or {}).get(field) in levels -%}{%- do chosen.append(name) -%}{%- endif -%}
  {%- endfor -%}
  {{- return(chosen) -}}
{%- endmacro -%}

{#- `column in ('a', 'b')` for a list of strings; false for an empty list. -#}
{%- macro is_one_of(column, values) -%}
  {%- if values -%}
    {{ column }} in ({% for value in values %}'{{ value }}'{{ ', ' if not loop.last }}{% endfor %})
  {%- else -%}
    false
  {%- endif -%}
{%- endmacro -%}

{#- The day rows' column counting events of `event_type` (int_*_days_aggregated). -#}
{%- macro event_count_column(event_type) -%}
  {%- if not modules.re.fullmatch('[a-z][a-z0-9_]*', event_type) -%}
    {{ exceptions.raise_compiler_error(
        "vars.event_types: '" ~ event_type ~ "' must be lowercase letters, digits and _ "
        ~ "(it names a column)"
    ) }}
  {%- endif -%}
  {{- return(event_type ~ '_events') -}}
{%- endmacro -%}

{#- One count column per event type of the vocabulary (of those carrying `field`, if given). -#}
{%- macro event_type_counts(field=none) -%}
  {%- for type in (event_types_with(field) if field else event_types()) %}
        count(*) filter (where event_type = '{{ type }}') as {{ event_count_column(type) }},
  {%- endfor %}
{%- endmacro -%}

{#- The day rows' column summing the number field `field` over events of `event_type`. -#}
{%- macro event_sum_column(field, event_type) -%}
  {{- return(event_type ~ '_' ~ field ~ '_sum') -}}
{%- endmacro -%}

{#-
  One sum column per number field of the user's own and type that lists it (of those types
  carrying `carrying`, if given): the values that are known, 0 when none (an exact decimal, so
  windows add and subtract it exactly, like revenue).
-#}
{%- macro event_field_sums(carrying=none) -%}
  {%- for field, kind in extra_event_fields().items() if kind == 'number' %}
    {%- for type in event_types_with(field) if carrying is none or type in event_types_with(carrying) %}
        coalesce(sum({{ field }}) filter (where event_type = '{{ type }}'), 0)
            as {{ event_sum_column(field, type) }},
    {%- endfor %}
  {%- endfor %}
{%- endmacro -%}
