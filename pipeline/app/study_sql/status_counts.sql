-- Runs per dataset and status; how many of the ok ones are in the selection ($lo..$hi on the $scale)
-- and the raw test accuracy the selected ones span.
with marked as (
    select
        dataset,
        status,
        accuracy,
        status = 'ok'
            and accuracy_on($scale, study) between $lo and $hi as in_selection
    from study
),

final as (
    select
        dataset,
        status,
        count(*) as runs,
        count(*) filter (where in_selection) as selected,
        min(accuracy) filter (where in_selection) as selected_from,
        max(accuracy) filter (where in_selection) as selected_to
    from marked
    group by dataset, status
)

select * from final order by dataset, status
