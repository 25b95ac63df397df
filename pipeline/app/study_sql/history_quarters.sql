-- The newly sampled configurations (a configuration's first evaluation) per quarter of the evaluations
-- (history_evaluations.sql; quarter q holds evaluation i with floor($quarters * (i - 1) / $n) = q - 1): how
-- many, how many BOHB's model picked, how many lie inside the final top region with every value, and the mean
-- and standard deviation of their share of values inside it (pipeline/analysis/exploration.py defines them).
-- Generated: {inside}, the sum over the {count} panels of whether the value lies inside the region (1 or 0;
-- the region bound as parameters).
with new_configs as (
    select
        (evaluation - 1) * $quarters // $n + 1 as quarter,
        sampled_as,
        {inside} as values_inside
    from history_evaluations
    where evaluation = first_evaluation
),

final as (
    select
        quarter,
        count(*) as new,
        stddev_samp(values_inside / {count}) as spread,
        count(*) filter (where sampled_as = 'model_based') as model_based,
        count(*) filter (where values_inside = {count}) as inside,
        avg(values_inside / {count}) as values_inside
    from new_configs
    group by quarter
)

select * from final order by quarter
