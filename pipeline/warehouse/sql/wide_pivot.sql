-- The runs of study $study_id after run $after, one row each with one column per hyperparameter.
-- The columns after run_id are generated (pipeline/warehouse/wide.py):
--     first(h.value_num or h.value) filter (where h.name = $n<i>) as "<name>"
with study_runs as (
    select run_id
    from runs
    where study_id = $study_id and run_id > $after
),

new_values as (
    select run_id, name, value, value_num
    from hyperparameters
    where run_id > $after
),

final as (
    select
        r.run_id{pivot}
    from study_runs as r
    left join new_values as h using (run_id)
    group by r.run_id
)

select * from final order by run_id
