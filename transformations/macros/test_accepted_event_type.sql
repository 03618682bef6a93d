{#- Every value of the column is an event type of the vocabulary (vars.event_types). -#}
{% test accepted_event_type(model, column_name) %}
  select {{ column_name }} as value, count(*) as rows
  from {{ model }}
  where {{ column_name }} is not null
      and not ({{ is_one_of(column_name, event_types()) }})
  group by 1
{% endtest %}
