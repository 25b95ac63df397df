-- The successive-halving plan of one sweep study ($study, table sweep_plan) next to what ran, per bracket and
-- round: planned configurations and budget, evaluations done (ok, diverged, failed). A round that ran without
-- a plan row (an import of a log the plan does not cover) has planned null; a planned round that has not run
-- has done 0.
with plan as (
    select
        p.bracket,
        p.bracket_s,
        p.round,
        p.configs as planned,
        p.budget
    from sweep_plan as p
    join studies as s using (study_id)
    where s.name = $study
),

done as (
    select
        r.bracket,
        any_value(r.bracket_s) as bracket_s,
        r.round,
        max(r.budget) as budget,
        count(*) as done,
        count(*) filter (where r.status = 'ok') as ok,
        count(*) filter (where r.status = 'diverged') as diverged,
        count(*) filter (where r.status = 'failed') as failed
    from runs as r
    join studies as s using (study_id)
    where s.name = $study and r.budget is not null
    group by r.bracket, r.round
),

final as (
    select
        coalesce(p.bracket, d.bracket) as bracket,
        coalesce(p.bracket_s, d.bracket_s) as bracket_s,
        coalesce(p.round, d.round) as round,
        coalesce(p.budget, d.budget) as budget,
        p.planned,
        coalesce(d.done, 0) as done,
        coalesce(d.ok, 0) as ok,
        coalesce(d.diverged, 0) as diverged,
        coalesce(d.failed, 0) as failed
    from plan as p
    full outer join done as d on p.bracket = d.bracket and p.round = d.round
)

select * from final order by bracket, round
