-- The loaded study, read from the warehouse: one row per run with its run columns, test accuracy
-- normalized per dataset and as a percentile within its dataset (accuracy_norm, accuracy_rank),
-- the option code b<i> of every parameter (b0 the dataset's, the others
-- from the study's wide table) and the raw value h<i> of the binned ones.
-- Generated: the wide table's columns (run_id, the binned ones' "<name>" as h<i>, the codes with options
-- and bins bound as parameters) and the dataset's code.
with study_runs as (
    select run_id, trial, status, dataset, test_accuracy as accuracy, {metrics}
    from runs
    where study_id = $study_id
),

dataset_range as (
    select dataset, min(accuracy) as dataset_min, max(accuracy) as dataset_max
    from study_runs
    group by dataset
),

-- percentile within the dataset's finished runs: (average rank - 0.5) / n, ties sharing the average
-- of the ranks they span (scipy.stats.rankdata's 'average'), so every dataset is uniform on 0..1
ranked as (
    select
        run_id,
        -- rank(): a tie's first rank; count(*) up to the current value, ties included: its last
        ((rank() over by_value + count(*) over by_value) / 2 - 0.5) / count(*) over (partition by dataset)
            as accuracy_rank
    from study_runs
    where status = 'ok' and accuracy is not null
    window by_value as (partition by dataset order by accuracy)
),

study_codes as (
    select
        {wide_columns}
    from {wide_table}
),

final as (
    select
        r.*,
        case
            when d.dataset_max > d.dataset_min then (r.accuracy - d.dataset_min) / (d.dataset_max - d.dataset_min)
            when r.accuracy is not null then 1.0
        end as accuracy_norm,
        k.accuracy_rank,
        {dataset_code} as b0,
        c.* exclude (run_id)
    from study_runs as r
    left join study_codes as c using (run_id)
    left join dataset_range as d on d.dataset is not distinct from r.dataset
    left join ranked as k using (run_id)
)

select * from final
