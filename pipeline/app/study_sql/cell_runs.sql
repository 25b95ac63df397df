-- The selected runs with one given pair of options (the heat-map cell clicked), best first.
with final as (
    select *
    from study
    where {code_a} = $option_a
        and {code_b} = $option_b
        and status = 'ok'
        and accuracy_on($scale, study) between $lo and $hi
)

select * from final order by accuracy desc limit $limit
