-- The sweeps that ran the same problem as study $study (the same search space, dataset, budgets and eta),
-- itself included, each evaluation in the order it finished, with the epochs (budget units) the sweep had
-- spent by then and its incumbent then: hpbandster's, the configuration with the lowest loss among the
-- evaluations on the largest budget so far, and that evaluation's test accuracy. No rows: not a sweep, or no
-- other sweep ran its problem.
with this as (
    select search_space, settings
    from studies
    where name = $study
),

peers as (
    select s.study_id, s.name, s.kind, s.settings->>'optimizer' as optimizer,
        try_cast(s.settings->>'max_budget' as double) as max_budget
    from studies as s, this as t
    where s.kind in ('bohb', 'hyperband', 'random_search')
        and s.search_space::varchar is not distinct from t.search_space::varchar
        and s.settings->>'dataset' is not distinct from t.settings->>'dataset'
        and try_cast(s.settings->>'min_budget' as double) is not distinct from try_cast(t.settings->>'min_budget' as double)
        and try_cast(s.settings->>'max_budget' as double) is not distinct from try_cast(t.settings->>'max_budget' as double)
        and try_cast(s.settings->>'eta' as double) is not distinct from try_cast(t.settings->>'eta' as double)
),

evaluations as (
    select
        p.name as study,
        coalesce(p.optimizer, p.kind) as optimizer,
        r.finished_at,
        r.budget,
        r.status,
        r.sampled_as,
        sum(r.budget) over spent as epochs_spent,
        row_number() over spent as evaluations_done,
        arg_min(r.test_accuracy, r.loss) filter (where r.status = 'ok' and r.budget >= p.max_budget) over spent
            as incumbent_accuracy,
        min(r.loss) filter (where r.status = 'ok' and r.budget >= p.max_budget) over spent as incumbent_loss
    from runs as r
    join peers as p using (study_id)
    -- a sweep with no other of its problem has nothing to compare: no rows, and no window over its runs
    where r.budget is not null and (select count(*) from peers) > 1
    window spent as (partition by p.study_id order by r.finished_at, r.trial rows unbounded preceding)
)

select * from evaluations
order by study, evaluations_done
