-- Every evaluation of one sweep study ($study), for the Sweep page: its Hyperband facts, status, loss and test
-- accuracy. config_id is the run id for a run without one (a configuration of its own); origin is how the
-- configuration was first sampled (the sampled_as of its smallest budget: random or model_based), so that a
-- promoted evaluation still says where its configuration came from; largest marks each configuration's
-- evaluation on the largest budget it reached. No rows: the study is not a sweep (its runs have no budgets).
with study_runs as (
    select
        r.run_id,
        r.trial,
        r.status,
        r.bracket,
        r.bracket_s,
        r.round,
        r.budget,
        coalesce(r.config_id, r.run_id::varchar) as config_id,
        r.sampled_as,
        r.loss,
        r.test_accuracy
    from runs as r
    join studies as s using (study_id)
    where s.name = $study and r.budget is not null
),

final as (
    select
        run_id,
        trial,
        status,
        bracket,
        bracket_s,
        round,
        budget,
        config_id,
        sampled_as,
        arg_min(sampled_as, budget) over (partition by config_id) as origin,
        budget = max(budget) over (partition by config_id) as largest,
        loss,
        test_accuracy
    from study_runs
)

select * from final order by trial
