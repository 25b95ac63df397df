-- Every evaluation of one sweep study ($study), for the Sweep page: its Hyperband facts, status, loss and test
-- accuracy. config_id is the run id for a run without one (a configuration of its own). No rows: the study is
-- not a sweep (its runs have no budgets). Per-configuration facts (how it was first sampled, its largest
-- budget) are window computations that pipeline/app/sweep_views.py makes in polars: 4x faster than here.
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
)

select * from study_runs order by trial
