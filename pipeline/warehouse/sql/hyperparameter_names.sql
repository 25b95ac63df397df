-- The hyperparameters of a study's runs after run $after, and whether each is a number
-- (booleans count as options: they are text).
with study_values as (
    select h.name, h.value, h.value_num
    from hyperparameters as h
    join runs as r using (run_id)
    where r.study_id = $study_id and r.run_id > $after and h.run_id > $after
),

final as (
    select
        name,
        count(value_num) = count(*) and bool_and(value not in ('true', 'false')) as numeric
    from study_values
    group by name
)

select * from final order by name
