{#-
  A mart's windowed features, declared once in its contract (models/marts/_marts__models.yml):
  a column whose `config: meta: window:` entry says what the window adds up is a feature of
  snapshot_changes (macros/feature_snapshots.sql), and its contract `data_type` is its cast.

    window: {count: <event type>, days: N}     events of that type (the vocabulary's)
    window: {sum: <field>, over: <event type>}  a number field of your own (vars.event_fields)
    window: {of: <day column>, days: N}        a column of the mart's day rows (events, revenue)
    window: {of: ..., leaves: <day column>}    what leaves the window, when not what entered
    window: {distinct|min|max|latest: <field>, over: <type>, days: N}
                                               values that do not add up: computed from the
                                               clean events (macros/event_aggregates.sql)
    no `days`                                  a lifetime value that never leaves

  The name, type, description and window are one entry; the mart's SQL, its contract column
  and the Feast Field (feature_repo/dbt_contract.py) all come from it.
-#}

{#- `mart` by name: a unit test of the mart renders it too, with a node of its own. -#}
{%- macro declared_window_features(mart) -%}
  {%- set features = [] -%}
  {%- if not execute -%}{{ return(features) }}{%- endif -%}
  {%- set node = (graph.nodes or {}).get('model.' ~ project_name ~ '.' ~ mart) -%}
  {%- if node is none -%}
    {{ exceptions.raise_compiler_error(
        "declared_window_features: no model named " ~ mart
        ~ " (a unit test of a mart overrides this macro with the features it checks)"
    ) }}
  {%- endif -%}
  {%- do require_built_columns(mart, node.columns.keys() | list) -%}
  {%- for column in node.columns.values() -%}
    {%- set window = (column.meta or {}).get('window') -%}
    {%- if window -%}
      {%- set aggregate = none -%}
      {%- set enters = none -%}
      {%- if window.get('count') -%}
        {%- if window['count'] not in event_types() -%}
          {{ exceptions.raise_compiler_error(
              mart ~ "." ~ column.name ~ ": window counts event type '" ~ window['count']
              ~ "', which is not in the event vocabulary (vars.event_types in dbt_project.yml)"
          ) }}
        {%- endif -%}
        {%- set enters = event_count_column(window['count']) -%}
      {%- elif window.get('sum') -%}
        {%- set field, type = window['sum'], window.get('over') -%}
        {%- if extra_event_fields().get(field) != 'number' or type not in event_types_with(field) -%}
          {{ exceptions.raise_compiler_error(
              mart ~ "." ~ column.name ~ ": window sums '" ~ field ~ "' over '" ~ type ~ "'; "
              ~ "`sum:` takes a number field of vars.event_fields and `over:` an event type "
              ~ "that lists it (vars.event_types in dbt_project.yml)"
          ) }}
        {%- endif -%}
        {%- set enters = event_sum_column(field, type) -%}
      {%- elif window.get('of') -%}
        {%- set enters = window['of'] -%}
      {%- else -%}
        {%- set kinds = ['distinct', 'min', 'max', 'latest'] | select('in', window) | list -%}
        {%- if kinds | length != 1 -%}
          {{ exceptions.raise_compiler_error(
              mart ~ "." ~ column.name ~ ": a window needs one of `count: <event type>`, "
              ~ "`sum: <field>, over: <event type>`, `of: <day column>`, or `distinct:`, "
              ~ "`min:`, `max:` or `latest:` a field (README \"Add a feature\")"
          ) }}
        {%- endif -%}
        {%- set aggregate = event_aggregate_feature(mart ~ "." ~ column.name, window, kinds[0]) -%}
      {%- endif -%}
      {%- set days = window.get('days') -%}
      {%- if days is not none and (days is not number or days < 1 or days != days | int) -%}
        {{ exceptions.raise_compiler_error(
            mart ~ "." ~ column.name ~ ": `days: " ~ days ~ "` should be a whole number of days, "
            ~ "1 or more (or no `days` for a lifetime value)"
        ) }}
      {%- endif -%}
      {%- set feature = {
          'name': column.name,
          'enters': enters,
          'leaves': window.get('leaves'),
          'days': days,
          'data_type': column.data_type,
          'aggregate': none,
      } -%}
      {%- if aggregate is not none -%}{%- do feature.update(aggregate) -%}{%- endif -%}
      {%- do features.append(feature) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if not features -%}
    {{ exceptions.raise_compiler_error(
        mart ~ ": no column of its contract declares a window (config: meta: window:)"
    ) }}
  {%- endif -%}
  {{- return(features) -}}
{%- endmacro -%}

{#- `cast(<feature> as <its contract type>) as <feature>` for each feature, comma-separated. -#}
{%- macro declared_feature_columns(features) -%}
  {%- for f in features %}
        cast({{ f.name }} as {{ f.data_type }}) as {{ f.name }}{{ ',' if not loop.last }}
  {%- endfor %}
{%- endmacro -%}


{#-
  An incremental run extends the mart from its own rows, which were computed for the columns it
  was built with: after a feature is added or removed, fail with the fix instead of a binder
  error deep in the SQL (`pitstop run` rebuilds such a mart by itself, pitstop.build.declarations).
-#}
{%- macro require_built_columns(mart, declared) -%}
  {%- if is_incremental() -%}
    {%- set built = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- set added = declared | reject('in', built) | list -%}
    {%- set removed = built | reject('in', declared) | list -%}
    {%- if added or removed -%}
      {{ exceptions.raise_compiler_error(
          mart ~ " was built with other columns (added: " ~ (added | join(', ') or 'none')
          ~ "; removed: " ~ (removed | join(', ') or 'none') ~ "); rebuild it from its inputs: "
          ~ "`pitstop run` does so by itself, or `dbt build --full-refresh --select " ~ mart ~ "`"
      ) }}
    {%- endif -%}
  {%- endif -%}
{%- endmacro -%}
