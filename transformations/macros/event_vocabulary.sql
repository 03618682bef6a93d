{#-
  The event vocabulary (vars.event_types in dbt_project.yml), for the models and tests that
  validate or aggregate events: the declared types, and the types that require or carry a field.
-#}

{%- macro event_types() -%}
  {{- return(var('event_types') | list) -}}
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
