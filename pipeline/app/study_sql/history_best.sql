-- Where the best test accuracy so far rose (history_evaluations.sql): the finished evaluations whose accuracy
-- beats every earlier finished one. Found per block of $block evaluations (a block whose best does not beat
-- the blocks before it holds no rise), then within the few blocks that do.
with finished as (
    select
        evaluation,
        accuracy,
        evaluation // $block as block
    from history_evaluations
    where status = 'ok' and accuracy is not null
),

blocks as (
    select
        block,
        max(accuracy) as best
    from finished
    group by block
),

rising_blocks as (
    select
        block,
        best,
        max(best) over (order by block rows between unbounded preceding and 1 preceding) as before
    from blocks
    qualify before is null or best > before
),

candidates as (
    select
        f.evaluation,
        f.accuracy,
        greatest(b.before, max(f.accuracy) over (
            partition by f.block order by f.evaluation rows between unbounded preceding and 1 preceding)) as before
    from finished as f
    join rising_blocks as b using (block)
),

final as (
    select
        evaluation,
        accuracy as best_accuracy
    from candidates
    where before is null or accuracy > before
)

select * from final order by evaluation
