-- The evaluations the Exploration history draws one by one (history_evaluations.sql) with their accuracy on the
-- sidebar's scale ($scale): every one ($top null), or those of the $top configurations whose final evaluation
-- scores best on it (earlier first among equals).
with scored as not materialized (
    select
        *,
        accuracy_on($scale, e) as score
    from history_evaluations as e
),

top_configs as (
    select *
    from scored
    where $top is not null and evaluation = final_evaluation and score is not null
    order by score desc, evaluation
    limit coalesce($top, 0)
),

shown as (
    select *
    from scored
    where $top is null
    union all
    select *
    from top_configs
    where config_id is null
    union all
    select *
    from scored
    where config_id in (select config_id from top_configs where config_id is not null)
),

final as (
    select
        * exclude (config_id, accuracy_norm, accuracy_rank),
        coalesce(config_id, run_id::varchar) as config_id,
        evaluation = final_evaluation as final
    from shown
)

select * from final order by evaluation
