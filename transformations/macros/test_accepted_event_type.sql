{#- The values of `column_name` in `model` that are not one of `values`, with their rows: a
    generic test's failures (accepted_event_type, accepted_rejection_reason). -#}
{%- macro values_not_in(model, column_name, values) -%}
  select {{ column_name }} as value, count(*) as rows
  from {{ model }}
  where {{ column_name }} is not null
      and not ({{ is_one_of(column_name, values) }})
  group by 1
{%- endmacro -%}

{#- Every value of the column is an event type of the vocabulary (vars.event_types). -#}
{% test accepted_event_type(model, column_name) %}
  {{ values_not_in(model, column_name, event_types()) }}
{% endtest %}
