-- The final top set of the Exploration history (pipeline/analysis/exploration.py defines it): the best $top of
-- the finished evaluations on the largest budget a finished one reached ($top_budget; null: every finished one),
-- by test accuracy, earlier first among equals; and per panel its region (generated: a number's min and max and
-- whether one had it inactive, an option panel's codes). Found without sorting the pool: a test accuracy takes
-- few values (correct / test images), so the accuracy where the top set ends (cut) is found from the count of
-- each, and only the evaluations at the cut are ranked, by evaluation number.
with pool as not materialized (
    select *
    from history_evaluations
    where status = 'ok' and accuracy is not null and ($top_budget is null or budget = $top_budget)
),

levels as (
    select
        accuracy,
        count(*) as n
    from pool
    group by accuracy
),

cut as (
    select
        accuracy,
        $top - coalesce(sum(n) over (order by accuracy desc rows between unbounded preceding and 1 preceding), 0)
            as taken
    from levels
    qualify taken > 0 and taken <= n
),

at_cut as (
    select
        p.*,
        row_number() over (order by p.evaluation) as place,
        c.taken
    from pool as p
    join cut as c using (accuracy)
),

top_set as (
    select p.*
    from pool as p, cut as c
    where p.accuracy > c.accuracy
    union all
    select * exclude (place, taken)
    from at_cut
    where place <= taken
),

final as (
    select
        count(*) as top{aggregates}
    from top_set
)

select * from final
