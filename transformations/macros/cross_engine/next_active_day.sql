{#-
  For each (user_id, label_date) of `labels`, the user's first activity_date in `days` on or
  after label_date (null when none): columns user_id, label_date, next_active_date.
-#}
{%- macro next_active_day(labels, days) -%}
  {{- return(adapter.dispatch('next_active_day')(labels, days)) -}}
{%- endmacro -%}

{%- macro duckdb__next_active_day(labels, days) -%}
    select
        l.user_id,
        l.label_date,
        d.activity_date as next_active_date
    from {{ labels }} as l
    asof left join {{ days }} as d
        on l.user_id = d.user_id and d.activity_date >= l.label_date
{%- endmacro -%}

{%- macro spark__next_active_day(labels, days) -%}
    {#- Spark has no ASOF join: label and activity rows in one timeline per user, and the
        smallest activity date from each label row on. On the same date the label row sorts
        first, so an activity on label_date itself counts (>=). -#}
    select user_id, label_date, next_active_date
    from (
        select
            user_id,
            on_date as label_date,
            is_label,
            min(activity_date) over (
                partition by user_id order by on_date, is_label desc
                rows between current row and unbounded following
            ) as next_active_date
        from (
            select user_id, label_date as on_date, 1 as is_label, cast(null as date) as activity_date
            from {{ labels }}
            union all
            select user_id, activity_date as on_date, 0 as is_label, activity_date
            from {{ days }}
        ) as timeline
    ) as ordered
    where is_label = 1
{%- endmacro -%}
