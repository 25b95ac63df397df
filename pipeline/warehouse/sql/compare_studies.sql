-- What the Compare studies page says of each study in the list $studies, beside its curve: kind and
-- optimizer, its search space (as text, to tell whether two studies searched the same space), the budget's
-- unit, the datasets its runs trained on, evaluations (every run, failed and diverged included), those that
-- finished ok, the budget spent (a sweep's budgets; a run without a budget, an ensemble member, counts its
-- epochs), runs with both times recorded, the wall time from the first run started to the last finished, and
-- how the configurations were sampled (model-based among those not promoted). One row per study, by name.
with chosen as (
    select study_id, name, kind, search_space::varchar as search_space,
        coalesce(settings->>'optimizer', kind) as optimizer,
        settings->>'budget_resource' as budget_resource
    from studies
    where list_contains($studies, name)
),

tallies as (
    select
        study_id,
        count(*) as evaluations,
        count(*) filter (where status = 'ok') as finished,
        sum(coalesce(budget, epochs, 0)) as spent,
        count(budget) as with_budget,
        count(*) filter (where started_at is not null and finished_at is not null) as timed,
        date_diff('microsecond', min(started_at), max(finished_at)) / 1e6 as wall_seconds,
        count(*) filter (where sampled_as = 'model_based') as model_based,
        count(*) filter (where sampled_as in ('random', 'model_based')) as sampled,
        list(distinct dataset order by dataset) filter (where dataset is not null) as datasets
    from runs
    where study_id in (select study_id from chosen)
    group by study_id
),

final as (
    select
        c.name as study,
        c.kind,
        c.optimizer,
        c.search_space,
        c.budget_resource,
        coalesce(t.datasets, []) as datasets,
        coalesce(t.evaluations, 0) as evaluations,
        coalesce(t.finished, 0) as finished,
        coalesce(t.spent, 0) as spent,
        coalesce(t.with_budget, 0) as with_budget,
        coalesce(t.timed, 0) as timed,
        t.wall_seconds,
        coalesce(t.model_based, 0) as model_based,
        coalesce(t.sampled, 0) as sampled
    from chosen as c
    left join tallies as t using (study_id)
)

select * from final
order by study
