-- The loaded study, read from the warehouse: one row per run with its run columns, the option code b<i>
-- of every parameter (b0 the dataset's, the others from the study's wide table) and the raw value h<i>
-- of the binned ones. Its accuracy scales are added over it (accuracy_scales.sql).
-- Generated: the wide table's columns (run_id, the binned ones' "<name>" as h<i>, the codes with options
-- and bins bound as parameters) and the dataset's code.
with study_runs as (
    select run_id, trial, status, dataset, test_accuracy as accuracy, {metrics}
    from runs
    where study_id = $study_id
),

study_codes as (
    select
        {wide_columns}
    from {wide_table}
),

final as (
    select
        r.*,
        {dataset_code} as b0,
        c.* exclude (run_id)
    from study_runs as r
    left join study_codes as c using (run_id)
)

select * from final
