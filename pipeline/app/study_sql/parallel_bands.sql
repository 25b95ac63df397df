-- Density bands of the Parallel coordinates page: the runs that pass the axis filters (<filters>), each
-- axis binned (<bins>: generated k0, k1, ... in axis order, an option's code or a bin of $bins, -1 where
-- inactive), counted per pair of adjacent axes (<sets>: the grouping sets (k0, k1), (k1, k2), ...) with
-- their mean accuracy; `grouping` says which pair a row counts.
with finished as (
    select run_id, accuracy_rank, accuracy_on($scale, study) as accuracy, {columns}
    from study
    where status = 'ok' and accuracy is not null
),

binned as (
    select
        accuracy,
        {bins}
    from finished
    where true
        {filters}
),

final as (
    select
        grouping({keys}) as grouping,
        {keys},
        count(*) as runs,
        avg(accuracy) as accuracy
    from binned
    group by grouping sets ({sets})
)

select * from final
