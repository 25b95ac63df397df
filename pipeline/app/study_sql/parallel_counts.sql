-- The Parallel coordinates page's counts: finished runs (status ok, with an accuracy), those that pass the
-- axis filters (<filters>: generated `and <condition>` lines over h<i> / b<i>, values bound as parameters),
-- and of each the top $share per dataset (rank within dataset >= 1 - $share).
with finished as (
    select run_id, accuracy_rank, accuracy_on($scale, study) as accuracy, {columns}
    from study
    where status = 'ok' and accuracy is not null
),

marked as (
    select
        accuracy_rank >= 1 - $share as top,
        true {filters} as kept
    from finished
),

final as (
    select
        count(*) as runs,
        count(*) filter (where top) as top,
        count(*) filter (where kept) as kept,
        count(*) filter (where kept and top) as kept_top
    from marked
)

select * from final
