-- Runs per dataset and status, and how many of the ok ones are in the selection.
with marked as (
    select
        dataset,
        status,
        status = 'ok'
            and accuracy_on($normalized, study) between $lo and $hi as in_selection
    from study
),

final as (
    select
        dataset,
        status,
        count(*) as runs,
        count(*) filter (where in_selection) as selected
    from marked
    group by dataset, status
)

select * from final order by dataset, status
