-- The Exploration history's counts (history_values.sql, history_order, history_configs): evaluations, those
-- without a start time, configurations (a config_id each, and each run without one), finished ones (status ok
-- with a test accuracy), the largest budget a finished one reached and the finished ones on it (the final top
-- set's pool), and per panel what its axis needs (generated: a binned number's min, max, inactive count and
-- whether all are integers; an option panel's inactive count). Read without the evaluation order: no join.
with top_budget as (
    select max(budget) as top_budget
    from history_values
    where status = 'ok' and accuracy is not null
),

run_counts as (
    select
        count(*) as evaluations,
        count(*) filter (where config_id is null) as unconfigured,
        count(*) filter (where status = 'ok' and accuracy is not null) as finished,
        any_value(t.top_budget) as top_budget,
        count(*) filter (where status = 'ok' and accuracy is not null
                         and (t.top_budget is null or v.budget = t.top_budget)) as pool{aggregates}
    from history_values as v, top_budget as t
),

order_counts as (
    select count(*) filter (where untimed) as untimed
    from history_order
),

config_counts as (
    select count(*) as configured
    from history_configs
),

final as (
    select
        r.* exclude (unconfigured),
        o.untimed,
        r.unconfigured + c.configured as configs
    from run_counts as r, order_counts as o, config_counts as c
)

select * from final
