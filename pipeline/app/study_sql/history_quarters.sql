-- The newly sampled configurations (a configuration's first evaluation) per quarter of the evaluations
-- (history_evaluations.sql; quarter q holds evaluation i with floor($quarters * (i - 1) / $n) = q - 1): how
-- many, how many BOHB's model picked, how many lie inside the final top region with every value, and the mean
-- and standard deviation of their share of values inside it (generated: one test per panel, the region
-- bound as parameters; pipeline/analysis/exploration.py defines them).
with new_configs as (
    select
        (evaluation - 1) * $quarters // $n + 1 as quarter,
        sampled_as,
        {checks}
    from history_evaluations
    where evaluation = first_evaluation
),

shares as (
    select
        quarter,
        sampled_as,
        ({share}) / {count} as values_inside,
        {every} as inside
    from new_configs
),

final as (
    select
        quarter,
        count(*) as new,
        stddev_samp(values_inside) as spread,
        count(*) filter (where sampled_as = 'model_based') as model_based,
        count(*) filter (where inside) as inside,
        avg(values_inside) as values_inside
    from shares
    group by quarter
)

select * from final order by quarter
