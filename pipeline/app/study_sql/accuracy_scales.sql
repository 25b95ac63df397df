-- Test accuracy on the app's two derived scales, per dataset, over the runs given (the whole study as it
-- loads, or the runs of a sweep's budget choice), added as two columns:
--   accuracy_norm: (x - min) / (max - min) over the dataset's runs; 1.0 where they all have one value
--   accuracy_rank: percentile within the dataset's finished runs, (average rank - 0.5) / n, ties sharing
--                  the average of the ranks they span (scipy.stats.rankdata's 'average'), so every dataset
--                  is uniform on 0..1
-- The facts are the same runs' status, dataset and accuracy alone: the load reads them from the runs table
-- rather than from the runs joined with their hyperparameters (1,000,000 runs: 0.52 -> 0.43 s)
with scored_runs as (
    select *
    from {runs}
),

dataset_range as (
    select dataset, min(accuracy) as dataset_min, max(accuracy) as dataset_max
    from {facts}
    group by dataset
),

ranked as (
    -- per distinct accuracy, not per run: a test accuracy is correct / test images, so a dataset has at
    -- most a few thousand values however many runs (1,000,000 runs: 0.2 -> 0.05 s; a window over every
    -- run sorts them all)
    select
        dataset,
        accuracy,
        -- the runs below this value, plus the average of the ranks its n ties span
        (sum(n) over by_value - (n - 1) / 2 - 0.5) / sum(n) over (partition by dataset) as accuracy_rank
    from (
        select dataset, accuracy, count(*) as n
        from {facts}
        where status = 'ok' and accuracy is not null
        group by all
    )
    window by_value as (partition by dataset order by accuracy rows unbounded preceding)
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
    left join ranked as k
        on r.status = 'ok' and k.dataset is not distinct from r.dataset and k.accuracy = r.accuracy
)

select * from final
