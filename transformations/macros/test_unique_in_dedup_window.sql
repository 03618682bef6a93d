{#-
  unique, over the rows a daily run can have made duplicate: on a `pitstop build` incremental
  run (var redo_since), the partitions from the earliest event day among the redone rows, minus
  one day, which is where stg_events__events looks for earlier deliveries
  (first_delivery_window_start). Without the var (a full build, a plain `dbt build`) the whole
  table is checked.
-#}
{% test unique_in_dedup_window(model, column_name) %}
{%- set since = var('redo_since', none) %}
select {{ column_name }}, count(*) as occurrences
from {{ model }}
{%- if since %}
where arrival_date >= {{ first_delivery_window_start(
    '(select event_at from ' ~ model ~ " where arrival_date >= date '" ~ since ~ "')"
) }}
{%- endif %}
group by {{ column_name }}
having count(*) > 1
{% endtest %}
