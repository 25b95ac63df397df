-- The best runs that pass the Parallel coordinates page's axis filters (<filters>), as study rows.
with finished as (
    select *, accuracy_on($scale, study) as shown_accuracy
    from study
    where status = 'ok' and accuracy is not null
),

final as (
    select * exclude (shown_accuracy)
    from finished
    where true
        {filters}
    order by shown_accuracy desc, run_id
    limit $limit
)

select * from final
