-- Test accuracy on the app's two derived scales, per dataset, over the runs given (the whole study as it
-- loads, or the runs of a sweep's budget choice), added as two columns:
--   accuracy_norm: (x - min) / (max - min) over the dataset's runs; 1.0 where they all have one value
--   accuracy_rank: percentile within the dataset's finished runs, (average rank - 0.5) / n, ties sharing
--                  the average of the ranks they span (scipy.stats.rankdata's 'average'), so every dataset
--                  is uniform on 0..1
with scored_runs as (
    select *
    from {runs}
),

dataset_range as (
    select dataset, min(accuracy) as dataset_min, max(accuracy) as dataset_max
    from scored_runs
    group by dataset
),

ranked as (
    select
        run_id,
        -- rank(): a tie's first rank; count(*) up to the current value, ties included: its last
        ((rank() over by_value + count(*) over by_value) / 2 - 0.5) / count(*) over (partition by dataset)
            as accuracy_rank
    from scored_runs
    where status = 'ok' and accuracy is not null
    window by_value as (partition by dataset order by accuracy)
),

final as (
    select
        r.*,
        case
            when d.dataset_max > d.dataset_min then (r.accuracy - d.dataset_min) / (d.dataset_max - d.dataset_min)
            when r.accuracy is not null then 1.0
        end as accuracy_norm,
        k.accuracy_rank
    from scored_runs as r
    left join dataset_range as d on d.dataset is not distinct from r.dataset
    left join ranked as k using (run_id)
)

select * from final
