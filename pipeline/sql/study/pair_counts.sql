-- For every pair of parameters (grouping sets over option codes, generated), runs per pair of
-- options in the whole study, in selection A and in selection B (ok runs with accuracy in range).
-- A row carries only its own pair's codes, so the first non-null code is the pair's first one.
with marked as (
    select
        {codes},
        case when $normalized then accuracy_norm else accuracy end as x,
        status = 'ok' as finished
    from study
),

final as (
    select
        grouping_id({codes}) as grouping,
        coalesce({codes}) as code_a,
        coalesce({codes_reversed}) as code_b,
        count(*) as runs,
        count(*) filter (where finished and x between $lo and $hi) as selected,
        count(*) filter (where finished and x between $lo_b and $hi_b) as compared
    from marked
    group by grouping sets ({pairs})
)

select * from final
