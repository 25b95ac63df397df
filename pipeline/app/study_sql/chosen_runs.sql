-- The runs of one budget choice of a sweep study, copied from the loaded study ({source}): every run on
-- budget $budget, or ($top) each configuration's evaluation on the largest budget it reached (a run
-- without a config id is a configuration of its own). Their accuracy scales are computed again over
-- these runs only (accuracy_scales.sql).
with chosen as (
    select * exclude (accuracy_norm, accuracy_rank)
    from {source}
    where budget is not null
        and ($top or budget = $budget)
    qualify not $top
        or row_number() over (partition by coalesce(config_id, run_id::varchar) order by budget desc, run_id desc) = 1
)

select * from chosen
