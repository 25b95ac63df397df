-- Every promotion of the study (history_evaluations.sql): a configuration's evaluations with a budget in order
-- of budget (equal budgets by evaluation), each consecutive pair where the budget grows.
with budgeted as (
    select
        config_id,
        evaluation as from_evaluation,
        budget as from_budget,
        lead(evaluation) over by_budget as to_evaluation,
        lead(budget) over by_budget as to_budget
    from history_evaluations
    where config_id is not null and budget is not null
    window by_budget as (partition by config_id order by budget, evaluation)
),

final as (
    select
        config_id,
        from_evaluation,
        to_evaluation,
        from_budget,
        to_budget
    from budgeted
    where to_budget > from_budget
)

select * from final
