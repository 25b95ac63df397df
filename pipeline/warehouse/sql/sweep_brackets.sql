-- Test accuracy per bracket and round of one sweep study ($study): the evaluations of the round, the finished
-- ones with an accuracy (n), their mean and maximum. Rounds where nothing finished have n = 0 and no values.
with study_runs as (
    select
        r.bracket,
        r.bracket_s,
        r.round,
        r.budget,
        r.test_accuracy
    from runs as r
    join studies as s using (study_id)
    where s.name = $study and r.budget is not null
),

final as (
    select
        bracket,
        any_value(bracket_s) as bracket_s,
        round,
        max(budget) as budget,
        count(*) as evaluations,
        count(test_accuracy) as n,
        avg(test_accuracy) as mean_accuracy,
        max(test_accuracy) as max_accuracy
    from study_runs
    group by bracket, round
)

select * from final order by bracket, round
