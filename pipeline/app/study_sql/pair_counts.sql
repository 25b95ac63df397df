-- Runs per combination of options of a few parameters at a time (grouping sets over option codes,
-- generated: sets that together hold every pair of parameters), in the whole study, in selection A
-- and in selection B (ok runs with accuracy in range, each range on its own scale: $scale, $scale_b).
-- The caller sums them down to pairs.
with marked as (
    select
        {codes},
        accuracy_on($scale, study) as x,
        accuracy_on($scale_b, study) as x_b,
        status = 'ok' as finished
    from study
),

final as (
    select
        grouping_id({codes}) as grouping,
        {codes},
        count(*) as runs,
        count(*) filter (where finished and x between $lo and $hi) as selected,
        count(*) filter (where finished and x_b between $lo_b and $hi_b) as compared
    from marked
    group by grouping sets ({sets})
)

select * from final
