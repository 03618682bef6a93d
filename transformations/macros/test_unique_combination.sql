{#-
  unique over several columns (dbt_utils' unique_combination_of_columns, without the package).

  A `pitstop build` daily run (var redo_since) checks only what it can have written
  (transformations/README.md, "Incremental daily runs"); a full build, or a model rebuilt whole
  (--full-refresh), checks every row:

  - `partition_column` (an arrival date): the rows of the partitions the run redid; exact when
    the columns determine the partition (a raw file's path names its arrival day), so rows of
    two partitions can never collide;
  - `snapshot_column` (a sparse-snapshot mart's event_timestamp): the rows from the UTC
    midnight 8 days before the earliest event day that arrived since redo_since (or
    redo_since, if earlier) on. Each rebuilt entity is rewritten from its resume date, the day
    after its earliest newly arrived day (int_user_days_aggregated rewrites up to 8 days before
    it) or after the last covered date (>= redo_since), so every row the run wrote is in that
    range, and a new duplicate has at least one row there: both rows, as they share the key.
    `back_days` widens the range for a mart that rewrites further back: churn_labels redoes the
    labels up to 29 days before a new active day, and those from 29 days before its last
    label date (30).
-#}
{% test unique_combination(model, columns, partition_column=none, snapshot_column=none, back_days=8) %}
{%- set since = var('redo_since', none) %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
{%- if since and partition_column %}
where {{ partition_column }} >= date '{{ since }}'
{%- elif since and snapshot_column and not flags.FULL_REFRESH %}
{%- set earliest = scalar_at_run(
    'select min(event_date) from ' ~ ref('stg_events__events') ~ " where arrival_date >= date '" ~ since ~ "'"
) %}
{%- set floor = "date '" ~ since ~ "'" if earliest is none
    else "least(date '" ~ earliest ~ "', date '" ~ since ~ "') - " ~ back_days %}
where {{ snapshot_column }} >= {{ utc_midnight(floor) }}
{%- endif %}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
