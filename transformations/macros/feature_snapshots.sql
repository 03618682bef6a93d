{#-
  Sparse daily snapshots from per-day activity (docs/architecture.md §3).

  A snapshot at T (a UTC midnight) summarizes events with ts < T; an N-day window covers
  T - N days <= ts < T. So a day d's activity enters every window at snapshot d + 1 and leaves
  the N-day window at snapshot d + N + 1. `snapshot_changes` emits those entries and exits as
  signed change rows; a running sum per entity over snapshot dates then gives every window's
  value at every date where any value changes. Days with no change get no row: a point-in-time
  lookup takes the latest row at or before its time, which holds the right value.

  There are no keep-alive rows: an entity's latest row holds its values until its next change,
  however long ago it was written. How far the data reaches is a property of the table, not of
  each row (int_data_coverage; docs/architecture.md §3 "Staleness"). Rows after the data's
  coverage end are dropped: they would describe days whose events have not arrived.

  `features` is a list of dicts: name (output column), enters (the day column added at d + 1),
  leaves (the day column subtracted at d + days + 1; defaults to enters) and days (window
  length; none for lifetime totals that never leave).

  On an incremental run (macros/incremental_windows.sql) `carried` names the relation of each
  rebuilt entity's last row before its resume_date (carried_state): that row enters as one
  change holding its values, and only changes from resume_date on are added to it, so an
  entity's new rows cost its recent days, not its history.
-#}

{%- macro snapshot_changes(days_relation, entity_key, features, carried=none) -%}
    {%- set lengths = features | map(attribute='days') | reject('none') | unique | list -%}
    {%- if carried %}
    select changes.*
    from (
    {%- endif %}

    -- a day's activity enters every window the next day
    select
        {{ entity_key }},
        activity_date + 1 as snapshot_date,
        {%- for f in features if not f.aggregate %}
        {{ f.enters }} as {{ f.name }},
        {%- endfor %}
        latest_arrival_date + 1 as arrived_by_date
    from {{ days_relation }}

    {%- for n in lengths | sort %}

    union all

    -- ... and leaves the {{ n }}-day windows {{ n }} days after that
    select
        {{ entity_key }},
        activity_date + {{ n + 1 }} as snapshot_date,
        {%- for f in features if not f.aggregate %}
        {% if f.days == n %}-{{ f.leaves or f.enters }}{% else %}0{% endif %} as {{ f.name }},
        {%- endfor %}
        null as arrived_by_date
    from {{ days_relation }}
    {%- endfor %}

    {%- if carried %}
    ) as changes
    inner join rebuilt using ({{ entity_key }})
    cross join (select coverage_end_date from {{ ref('int_data_coverage') }}) as coverage
    where changes.snapshot_date between rebuilt.resume_date and coverage.coverage_end_date

    union all

    -- the last row before resume_date, whose values the changes since then add to
    select
        {{ entity_key }},
        snapshot_date,
        {%- for f in features if not f.aggregate %}
        {{ f.name }},
        {%- endfor %}
        arrived_by_date
    from {{ carried }}
    {%- endif %}
{%- endmacro -%}


{#- The running total of a change column over an entity's snapshot dates. -#}
{%- macro running_total(column, entity_key) -%}
    sum(sum({{ column }})) over (
        partition by {{ entity_key }} order by snapshot_date
        rows between unbounded preceding and current row
    )
{%- endmacro -%}


{#-
  created_timestamp of a snapshot row: when its value became knowable. That is T itself, or
  later when a late event (one that arrived after T) is part of it.
-#}
{%- macro knowable_at(entity_key) -%}
    {{ utc_midnight(
        'greatest(snapshot_date, max(max(arrived_by_date)) over (
            partition by ' ~ entity_key ~ ' order by snapshot_date
            rows between unbounded preceding and current row))'
    ) }}
{%- endmacro -%}
