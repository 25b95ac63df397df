-- The order in which the runs of one study ($study) were evaluated, for the Exploration history page:
-- evaluation 1, 2, ... by the time each started (runs without a start time last, `untimed`), equal times by
-- run id.
with study_runs as (
    select
        r.run_id,
        r.started_at
    from runs as r
    join studies as s using (study_id)
    where s.name = $study
),

final as (
    select
        run_id,
        started_at is null as untimed,
        row_number() over (order by started_at nulls last, run_id) as evaluation
    from study_runs
)

select * from final
