-- One row about one sweep study ($study): its kind, settings and search space (JSON text), configurations and
-- evaluations, how they ended, the workers that ran them, the wall time from the first submission (or start)
-- to the last finish, and the evaluation with the best test accuracy (ties: the larger budget, then the
-- earlier trial).
with study as (
    select
        study_id,
        kind,
        settings::varchar as settings,
        search_space::varchar as search_space
    from studies
    where name = $study
),

study_runs as (
    select r.*
    from runs as r
    join study as s using (study_id)
),

best as (
    select
        run_id as best_run_id,
        test_accuracy as best_accuracy,
        budget as best_budget,
        config_id as best_config_id
    from study_runs
    where test_accuracy is not null
    order by test_accuracy desc, budget desc, trial
    limit 1
),

counts as (
    select
        count(distinct coalesce(config_id, run_id::varchar)) as configs,
        count(*) as evaluations,
        count(*) filter (where status = 'ok') as ok,
        count(*) filter (where status = 'diverged') as diverged,
        count(*) filter (where status = 'failed') as failed,
        count(distinct worker) as workers,
        epoch(max(finished_at)) - epoch(min(coalesce(submitted_at, started_at))) as wall_seconds,
        sum(epoch(finished_at) - epoch(started_at)) as worker_seconds
    from study_runs
),

final as (
    select *
    from study
    cross join counts
    left join best on true
)

select * from final
