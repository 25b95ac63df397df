-- Networks per dataset and accuracy bin ($bins equal bins on 0..1) on the $scale ('raw', 'normalized',
-- 'rank'), with the raw test accuracy each bin's networks span (what a bin of the per-dataset scales means).
with scored as (
    select
        dataset,
        accuracy,
        accuracy_on($scale, study) as x
    from study
    where status = 'ok' and accuracy is not null
),

binned as (
    select dataset, accuracy, least(floor(x * $bins), $bins - 1)::integer as bin
    from scored
),

final as (
    select
        dataset,
        bin,
        bin / $bins as x0,
        (bin + 1) / $bins as x1,
        count(*) as networks,
        min(accuracy) as accuracy_from,
        max(accuracy) as accuracy_to
    from binned
    group by dataset, bin
)

select * from final order by dataset, bin
