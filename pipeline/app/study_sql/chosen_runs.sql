-- The runs of one budget choice of a sweep study, copied from the loaded study ({source}): every run on
-- budget $budget, or ($top) each configuration's evaluation on the largest budget it reached (a run
-- without a config id is a configuration of its own); accuracy normalized and ranked again per
-- dataset over these runs only, as study_table.sql does over all.
with chosen as (
    select *
    from {source}
    where budget is not null
        and ($top or budget = $budget)
    qualify not $top
        or row_number() over (partition by coalesce(config_id, run_id::varchar) order by budget desc, run_id desc) = 1
),

dataset_range as (
    select dataset, min(accuracy) as dataset_min, max(accuracy) as dataset_max
    from chosen
    group by dataset
),

ranked as (
    select
        run_id,
        -- rank(): a tie's first rank; count(*) up to the current value, ties included: its last
        ((rank() over by_value + count(*) over by_value) / 2 - 0.5) / count(*) over (partition by dataset)
            as accuracy_rank
    from chosen
    where status = 'ok' and accuracy is not null
    window by_value as (partition by dataset order by accuracy)
),

final as (
    select
        c.* replace (
            case
                when d.dataset_max > d.dataset_min then (c.accuracy - d.dataset_min) / (d.dataset_max - d.dataset_min)
                when c.accuracy is not null then 1.0
            end as accuracy_norm,
            k.accuracy_rank as accuracy_rank
        )
    from chosen as c
    left join dataset_range as d on d.dataset is not distinct from c.dataset
    left join ranked as k using (run_id)
)

select * from final
