-- Mean and sample variance of accuracy in the selection per primary option x panel option
-- [x secondary option], for every panel parameter at once (grouping sets generated).
with selected as (
    select
        {codes},
        case when $normalized then accuracy_norm else accuracy end as x
    from study
    where status = 'ok'
        and accuracy is not null
        and (case when $sel_normalized then accuracy_norm else accuracy end) between $lo and $hi
),

final as (
    select
        grouping_id({codes}) as grouping,
        {codes},
        count(*) as n,
        avg(x) as mean,
        var_samp(x) as var
    from selected
    group by grouping sets ({sets})
)

select * from final
