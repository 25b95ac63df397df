-- The loaded study (warehouse attached as wh): one row per run with its run columns, the raw
-- value h<i> of every parameter (h0 the dataset, the others from the study's wide table), test
-- accuracy normalized per dataset, and the option code b<i> of every parameter.
-- Generated: the columns w."<name>" as h<i>, and the codes b<i> from h<i> (options and bins bound
-- as parameters).
with study_runs as (
    select run_id, trial, status, dataset, test_accuracy as accuracy, {metrics}
    from wh.runs
    where study_id = $study_id
),

dataset_range as (
    select dataset, min(accuracy) as dataset_min, max(accuracy) as dataset_max
    from study_runs
    group by dataset
),

runs_wide as (
    select
        r.*,
        r.dataset as h0{columns}
    from study_runs as r
    left join wh.{wide_table} as w using (run_id)
),

final as (
    select
        rw.*,
        case
            when d.dataset_max > d.dataset_min then (rw.accuracy - d.dataset_min) / (d.dataset_max - d.dataset_min)
            when rw.accuracy is not null then 1.0
        end as accuracy_norm,
        {codes}
    from runs_wide as rw
    left join dataset_range as d on d.dataset is not distinct from rw.dataset
)

select * from final
