-- The selection's runs (filters generated as list_contains($f<i>, b<i>)), sorted, the first $limit.
with final as (
    select *
    from study
    where status = 'ok'
        and accuracy_on($scale, study) between $lo and $hi
        {filters}
)

select * from final order by {order} limit $limit
