-- The Exploration history's heat cells over every evaluation (history_evaluations.sql), in one scan: a grouping
-- set per panel ({sets}) of {x_bins} slices of the evaluation order ($n evaluations) and the panel's row y<k>
-- (generated: an option's code, or the slice of a number's range, -1 where inactive); per cell n evaluations,
-- the best and mean accuracy on the sidebar's scale ($scale), the first and last evaluation.
with evaluations as (
    select
        (evaluation - 1) * {x_bins} // $n as x_bin,
        accuracy_on($scale, e) as score,
        evaluation{ys}
    from history_evaluations as e
),

cells as (
    select
        {panel} as panel,
        {y} as y_cell,
        x_bin,
        count(*) as n,
        max(score) as best,
        avg(score) as mean,
        min(evaluation) as first_evaluation,
        max(evaluation) as last_evaluation
    from evaluations
    group by grouping sets ({sets})
),

final as (
    select
        panel,
        x_bin,
        y_cell,
        n,
        best,
        mean,
        first_evaluation,
        last_evaluation
    from cells
)

select * from final order by panel, x_bin, y_cell
