-- Count, mean and sample variance of accuracy (on the $scale) of the selection's runs (its
-- range on the $selection_scale) per primary option x panel option [x secondary option],
-- for every panel parameter at once (grouping sets generated).
with selected as (
    select
        {codes},
        accuracy_on($scale, study) as x
    from study
    where status = 'ok'
        and accuracy is not null
        and accuracy_on($selection_scale, study) between $lo and $hi
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
