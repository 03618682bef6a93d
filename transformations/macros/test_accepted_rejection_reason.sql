{#-
  Every value of the column is a reason stg_events__lines gives, in the order it checks them:
  the contract's (docs/architecture.md §2) and missing_/invalid_ for each field of the user's
  own (vars.event_fields).
-#}
{%- macro rejection_reasons() -%}
  {%- set reasons = [
      'invalid_utf8', 'malformed_json', 'not_an_object',
      'missing_event_id', 'invalid_event_id', 'missing_event_type', 'invalid_event_type',
      'unknown_event_type', 'missing_user_id', 'invalid_user_id', 'missing_ts', 'invalid_ts',
      'ts_out_of_range',
      'missing_item_id', 'invalid_item_id', 'missing_price', 'invalid_price', 'negative_price',
      'invalid_quantity', 'missing_session_id', 'invalid_session_id', 'missing_device',
      'invalid_device', 'missing_country', 'invalid_country',
  ] -%}
  {%- for field in extra_event_fields() -%}
    {%- do reasons.extend(['missing_' ~ field, 'invalid_' ~ field]) -%}
  {%- endfor -%}
  {{- return(reasons) -}}
{%- endmacro -%}

{% test accepted_rejection_reason(model, column_name) %}
  {{ values_not_in(model, column_name, rejection_reasons()) }}
{% endtest %}
