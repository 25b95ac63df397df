-- One row per study: what the home page shows.
with run_counts as (
    select
        study_id,
        count(*) as runs,
        count(*) filter (where status = 'ok') as ok,
        count(*) filter (where status = 'diverged') as diverged,
        count(*) filter (where status = 'failed') as failed,
        max(test_accuracy) as best_test_accuracy,
        max(finished_at) as last_run_at
    from runs
    group by study_id
),

final as (
    select
        s.name as study,
        s.kind,
        coalesce(c.runs, 0) as runs,
        coalesce(c.ok, 0) as ok,
        coalesce(c.diverged, 0) as diverged,
        coalesce(c.failed, 0) as failed,
        c.best_test_accuracy,
        s.created_at,
        s.finished_at,
        c.last_run_at
    from studies as s
    left join run_counts as c using (study_id)
)

select * from final order by created_at
