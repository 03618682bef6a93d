{#-
  unique over several columns (dbt_utils' unique_combination_of_columns, without the package).
  With `partition_column`, a `pitstop build` daily run (var redo_since) checks only the rows of
  the partitions it redid: exact when the columns determine the partition (a raw file's path
  names its arrival day), so rows of two partitions can never collide.
-#}
{% test unique_combination(model, columns, partition_column=none) %}
{%- set since = var('redo_since', none) if partition_column else none %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
{%- if since %}
where {{ partition_column }} >= date '{{ since }}'
{%- endif %}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
