-- The best-so-far curves of the studies in the list $studies (only runs on dataset $dataset when it is not
-- null), as the points where they change, plus each study's last evaluation, so a step line runs to its end.
--
-- Each study's runs are evaluations in the order they finished (then by trial); after each one: how many
-- evaluations were done, the budget spent (sum of budgets; a run without one counts its epochs) and the
-- seconds since the study's first run started (null where times are not recorded). A finished evaluation
-- (status ok) is ranked by its loss, what the optimizer minimized (1 - validation accuracy for our sweeps,
-- the logged loss of an import), or by 1 - test accuracy where the study records no loss (an ensemble).
-- The best so far by $rule:
--   'incumbent': hpbandster's incumbent (Result.get_incumbent_trajectory, the BOHB paper's anytime plots):
--                the lowest loss among the finished evaluations on the largest budget finished so far; an
--                evaluation on a larger budget takes over even when its loss is higher. Runs without a budget
--                are all on one budget.
--   'any':       the lowest loss among all finished evaluations so far, whatever their budget.
-- A tie keeps the earlier evaluation. point = 'change' rows are the evaluations that became the best (its test
-- accuracy, loss, budget, run and configuration); point = 'end' is each study's last evaluation with the best
-- it ended on (null values: no evaluation finished).
with chosen as (
    select study_id, name
    from studies
    where list_contains($studies, name)
),

origins as (
    select study_id, min(started_at) as first_started
    from runs
    where study_id in (select study_id from chosen)
    group by study_id
),

evaluations as (
    select
        c.name as study,
        r.run_id,
        r.config_id,
        r.budget,
        coalesce(r.budget, 0) as rung,
        r.test_accuracy as accuracy,
        case when r.status = 'ok' and isfinite(coalesce(r.loss, 1 - r.test_accuracy))
            then coalesce(r.loss, 1 - r.test_accuracy) end as criterion,
        row_number() over run_order as evaluation,
        sum(coalesce(r.budget, r.epochs, 0)) over run_order as spent,
        date_diff('microsecond', o.first_started, r.finished_at) / 1e6 as seconds
    from runs as r
    join chosen as c using (study_id)
    join origins as o using (study_id)
    where $dataset::varchar is null or r.dataset = $dataset::varchar
    window run_order as (partition by r.study_id order by r.finished_at asc nulls last, r.trial
                         rows unbounded preceding)
),

candidates as (
    -- an evaluation becomes the best when its loss is below every earlier one's (on any budget for 'any'; on
    -- its own budget for 'incumbent', where it must also be on the largest budget finished so far: the
    -- incumbent's budget then is its own, or it is the first evaluation on a larger one)
    select *,
        max(rung) over (partition by study order by evaluation rows unbounded preceding) as top_rung,
        case when $rule = 'any'
            then min(criterion) over (partition by study order by evaluation
                                      rows between unbounded preceding and 1 preceding)
            else min(criterion) over (partition by study, rung order by evaluation
                                      rows between unbounded preceding and 1 preceding)
        end as best_before
    from evaluations
    where criterion is not null
),

changes as (
    select study, evaluation, spent, seconds, accuracy, criterion as loss, budget, run_id, config_id
    from candidates
    where ($rule = 'any' or rung = top_rung)
        and (best_before is null or criterion < best_before)
),

ends as (
    select study, max(evaluation) as evaluation, max(spent) as spent, max(seconds) as seconds
    from evaluations
    group by study
),

last_changes as (
    select study, arg_max(changes, evaluation) as best
    from changes
    group by study
),

final as (
    select 'change' as point, study, evaluation, spent, seconds, accuracy, loss, budget, run_id, config_id
    from changes
    union all
    select 'end' as point, e.study, e.evaluation, e.spent, e.seconds, l.best.accuracy, l.best.loss, l.best.budget,
        l.best.run_id, l.best.config_id
    from ends as e
    left join last_changes as l using (study)
)

select * from final
order by study, evaluation, point
