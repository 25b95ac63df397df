-- The runs the Parallel coordinates page draws as lines: those that pass the axis filters (<filters>) and,
-- when $top_only, are in the top $share per dataset; the best $limit of them. <positions>: each axis's
-- position in [0, 1] (generated per axis from h<i> / b<i>, a deterministic jitter per run inside an
-- option's band, the inactive mark below 0), named p0, p1, ... in axis order, computed for those runs only.
with finished as (
    select run_id, accuracy_rank, accuracy_on($scale, study) as accuracy, {columns}
    from study
    where status = 'ok' and accuracy is not null
),

kept as (
    select *
    from finished
    where (not $top_only or accuracy_rank >= 1 - $share)
        {filters}
    order by accuracy desc, run_id
    limit $limit
),

final as (
    select
        run_id,
        accuracy,
        accuracy_rank >= 1 - $share as top,
        {positions}
    from kept
)

select * from final
order by accuracy desc, run_id
