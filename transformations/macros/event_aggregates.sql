{#-
  The declared features that do not add up (docs/architecture.md §3): count distinct, min, max
  and latest of a field of the clean events, over a window or a lifetime.

    window: {distinct: <field>, over: <type or [types]>, days: N}
    window: {min: <field>, ...}   window: {max: <field>, ...}   window: {latest: <field>, ...}

  `over` is optional (every type that carries the field); no `days` is a lifetime value. A
  value at snapshot T reads the events with T - N days <= ts < T (lifetime: ts < T) whose field
  is not null: null when there are none (min, max, latest), 0 for a count distinct. `latest` is
  the value of the last such event (by event time, then event_id).

  A windowed value changes only where a matching day enters (d + 1) or leaves (d + N + 1) the
  window, and snapshot_changes (macros/feature_snapshots.sql) emits a row at both for every
  active day of the entity (the feature's N is one of the mart's window lengths), so every
  change has its row. The values are computed from stg_events__events for each snapshot row:
  a windowed one from the entity's matching days in the window, a lifetime one as a running
  aggregate over the entity's matching days. On an incremental run only the rebuilt entities
  are read (a windowed feature from resume_date - N - 1 on, a lifetime one over their whole
  history: a count distinct must know every value seen before).
-#}

{#- The clean events' columns a declared aggregate may read, on every type. -#}
{%- macro columns_on_every_type() -%}
  {{- return(['user_id', 'event_type', 'event_at', 'session_id', 'device', 'country']) -}}
{%- endmacro -%}

{#-
  The entry of a non-additive window (`kind` one of distinct, min, max, latest) as a feature
  dict for declared_window_features: field, the event types it reads, and no day column.
-#}
{%- macro event_aggregate_feature(where, window, kind) -%}
  {%- set field = window[kind] -%}
  {%- set over = window.get('over') -%}
  {%- set types = ([over] if over is string else (over or [])) | list -%}
  {%- for type in types if type not in event_types() -%}
    {{ exceptions.raise_compiler_error(
        where ~ ": window reads event type '" ~ type ~ "', which is not in the event "
        ~ "vocabulary (vars.event_types in dbt_project.yml)"
    ) }}
  {%- endfor -%}
  {%- if field in columns_on_every_type() -%}
    {%- set carriers = event_types() -%}
  {%- elif field in ['item_id', 'price'] or field in extra_event_fields() -%}
    {%- set carriers = event_types_with(field) -%}
  {%- elif field == 'quantity' -%}
    {%- set carriers = event_types_with('price') -%}
  {%- else -%}
    {{ exceptions.raise_compiler_error(
        where ~ ": `" ~ kind ~ ": " ~ field ~ "` should name a column of the clean events: "
        ~ (columns_on_every_type() + ['item_id', 'price', 'quantity']) | join(', ')
        ~ " or a field of vars.event_fields"
    ) }}
  {%- endif -%}
  {%- set reads = (types | select('in', carriers) | list) if types else carriers -%}
  {%- if not reads or (types and reads | length < types | length) -%}
    {{ exceptions.raise_compiler_error(
        where ~ ": `" ~ kind ~ ": " ~ field ~ "` over " ~ (types | join(', ') or 'every type')
        ~ ": every type it reads must carry " ~ field ~ " (vars.event_types in dbt_project.yml)"
    ) }}
  {%- endif -%}
  {{- return({'aggregate': kind, 'field': field, 'event_types': reads}) -}}
{%- endmacro -%}


{#-
  `snapshots` (a relation: entity_key, snapshot_date and the additive features) with one more
  column per declared aggregate of `features`, by name; `snapshots` itself when there is none.
-#}
{%- macro with_event_aggregates(snapshots, entity_key, features) -%}
  {%- set aggregates = features | selectattr('aggregate') | list -%}
    select
        s.*
        {%- for f in aggregates %},
        {% if f.aggregate == 'distinct' %}coalesce(a{{ loop.index }}.value, 0){% else %}a{{ loop.index }}.value{% endif %} as {{ f.name }}
        {%- endfor %}
    from {{ snapshots }} as s
    {%- for f in aggregates %}
    left join (
        {{ event_aggregate_values(snapshots, entity_key, f) | indent(8) }}
    ) as a{{ loop.index }}
        on a{{ loop.index }}.{{ entity_key }} = s.{{ entity_key }}
        and a{{ loop.index }}.snapshot_date = s.snapshot_date
    {%- endfor %}
{%- endmacro -%}


{#- The events one aggregate reads: entity, day, time, id and the field as `value`. -#}
{%- macro aggregate_events(entity_key, f) -%}
    select e.{{ entity_key }}, e.event_date, e.event_at, e.event_id, e.{{ f.field }} as value
    from {{ ref('stg_events__events') }} as e
    {%- if is_incremental() %}
    inner join rebuilt using ({{ entity_key }})
    {%- endif %}
    where e.{{ f.field }} is not null
        and e.{{ entity_key }} is not null
        and {{ is_one_of('e.event_type', f.event_types) }}
        {%- if is_incremental() and f.days is not none %}
        and e.event_date >= rebuilt.resume_date - {{ f.days + 1 }}
        {%- endif %}
{%- endmacro -%}


{#-
  One row per entity and day with matching events, keyed by the snapshot the day first counts
  in (day + 1): what the aggregate keeps of the day (`value`, and `value_at` for latest).
  A count distinct keeps its (entity, value) pairs instead: a windowed one each day's distinct
  values, a lifetime one the number of values first seen that day (`value`).
-#}
{%- macro aggregate_days(entity_key, f) -%}
  {%- if f.aggregate == 'latest' -%}
    select {{ entity_key }}, event_date, value, event_at as value_at
    from (
        select
            events.*,
            row_number() over (
                partition by {{ entity_key }}, event_date order by event_at desc, event_id desc
            ) as rank_in_day
        from ({{ aggregate_events(entity_key, f) }}) as events
    ) as ranked
    where rank_in_day = 1
  {%- elif f.aggregate == 'distinct' and f.days is none -%}
    select {{ entity_key }}, first_date as event_date, count(*) as value
    from (
        select {{ entity_key }}, value, min(event_date) as first_date
        from ({{ aggregate_events(entity_key, f) }}) as events
        group by {{ entity_key }}, value
    ) as first_seen
    group by {{ entity_key }}, first_date
  {%- elif f.aggregate == 'distinct' -%}
    select distinct {{ entity_key }}, event_date, value
    from ({{ aggregate_events(entity_key, f) }}) as events
  {%- else -%}
    select {{ entity_key }}, event_date, {{ f.aggregate }}(value) as value
    from ({{ aggregate_events(entity_key, f) }}) as events
    group by {{ entity_key }}, event_date
  {%- endif -%}
{%- endmacro -%}


{#- How the aggregate combines day rows (`d`): over a window's join or a running frame. -#}
{%- macro combine_days(f, frame='') -%}
  {%- if f.aggregate == 'latest' -%}
    max_by(d.value, d.value_at){{ frame }}
  {%- elif f.aggregate == 'distinct' and f.days is none -%}
    sum(d.value){{ frame }}
  {%- elif f.aggregate == 'distinct' -%}
    count(distinct d.value)
  {%- else -%}
    {{ f.aggregate }}(d.value){{ frame }}
  {%- endif -%}
{%- endmacro -%}


{#- (entity_key, snapshot_date, value) for each snapshot row of `snapshots` that has one. -#}
{%- macro event_aggregate_values(snapshots, entity_key, f) -%}
  {%- if f.days is not none -%}
    -- {{ f.name }}: the matching days in the {{ f.days }} days before each snapshot
    select k.{{ entity_key }}, k.snapshot_date, {{ combine_days(f) }} as value
    from (select distinct {{ entity_key }}, snapshot_date from {{ snapshots }}) as k
    inner join ({{ aggregate_days(entity_key, f) }}) as d
        on d.{{ entity_key }} = k.{{ entity_key }}
        and d.event_date >= k.snapshot_date - {{ f.days }}
        and d.event_date < k.snapshot_date
    group by k.{{ entity_key }}, k.snapshot_date
  {%- else -%}
    -- {{ f.name }}: a running aggregate over the snapshots and the matching days, in date order
    select {{ entity_key }}, snapshot_date, value
    from (
        select
            coalesce(k.{{ entity_key }}, d.{{ entity_key }}) as {{ entity_key }},
            coalesce(k.snapshot_date, d.snapshot_date) as snapshot_date,
            k.snapshot_date is not null as is_snapshot,
            {{ combine_days(f, ' over timeline') }} as value
        from (select distinct {{ entity_key }}, snapshot_date from {{ snapshots }}) as k
        full outer join (
            select days.*, event_date + 1 as snapshot_date
            from ({{ aggregate_days(entity_key, f) }}) as days
        ) as d
            on d.{{ entity_key }} = k.{{ entity_key }} and d.snapshot_date = k.snapshot_date
        window timeline as (
            partition by coalesce(k.{{ entity_key }}, d.{{ entity_key }})
            order by coalesce(k.snapshot_date, d.snapshot_date)
            rows between unbounded preceding and current row
        )
    ) as timeline
    where is_snapshot
  {%- endif -%}
{%- endmacro -%}
