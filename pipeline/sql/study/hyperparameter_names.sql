-- The hyperparameters a study's runs have, and whether each is a number (booleans count as options).
with study_values as (
    select h.name, h.value, h.value_num
    from hyperparameters as h
    join runs as r using (run_id)
    where r.study_id = $study_id
),

final as (
    select
        name,
        count(value_num) = count(*) and bool_and(value not in ('true', 'false')) as numeric
    from study_values
    group by name
)

select * from final order by name
