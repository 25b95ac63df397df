-- One row per run of a study (warehouse attached as wh), one column h<i> per hyperparameter, h0 the dataset.
-- The h<i> columns after h0 are generated: first(value) filter (where name = $n<i>) per hyperparameter.
with hyperparameters_wide as (
    select
        h.run_id{pivot}
    from wh.hyperparameters as h
    where h.run_id in (select run_id from wh.runs where study_id = $study_id)
    group by h.run_id
),

final as (
    select
        r.run_id, r.trial, r.status, r.dataset, r.test_accuracy as accuracy, {metrics},
        r.dataset as h0,
        hw.* exclude (run_id)
    from wh.runs as r
    left join hyperparameters_wide as hw using (run_id)
    where r.study_id = $study_id
)

select * from final order by run_id
