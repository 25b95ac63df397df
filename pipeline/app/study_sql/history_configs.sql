-- The configurations of the Exploration history that have a config_id (a run without one is a configuration of
-- its own), made a temporary table: each one's first evaluation, its final one (largest budget, then latest)
-- and how it was first sampled (the earliest of its smallest budget); evaluation numbers from history_order (in
-- the study's row order: paired by position).
with configured as (
    select
        o.evaluation,
        s.config_id,
        s.budget,
        s.sampled_as,
        {{'budget': coalesce(s.budget, '-inf'::double), 'evaluation': o.evaluation}} as place
    from history_order as o
    positional join study as s
    where s.config_id is not null
),

final as (
    select
        config_id,
        min(evaluation) as first_evaluation,
        arg_max(evaluation, place) as final_evaluation,
        arg_min_null(sampled_as, place) as origin
    from configured
    group by config_id
)

select * from final
