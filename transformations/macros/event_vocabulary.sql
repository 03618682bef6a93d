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
