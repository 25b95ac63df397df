-- The budgets of one study's runs ($study), with the runs on each and the configurations (config id; a run
-- without one is a configuration of its own) whose largest budget reached it is, and all configurations.
-- No rows: the study is not a sweep (its runs have no budgets).
with study_runs as (
    select
        r.budget,
        coalesce(r.config_id, r.run_id::varchar) as config
    from runs as r
    join studies as s using (study_id)
    where s.name = $study and r.budget is not null
),

largest as (
    select config, max(budget) as budget
    from study_runs
    group by config
),

final as (
    select
        b.budget,
        b.runs,
        coalesce(t.configs, 0) as configs_on_largest,
        (select count(*) from largest) as configs
    from (select budget, count(*) as runs from study_runs group by budget) as b
    left join (select budget, count(*) as configs from largest group by budget) as t using (budget)
)

select * from final order by budget
