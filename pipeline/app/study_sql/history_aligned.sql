-- The evaluation order (warehouse/sql/history_order.sql, below) in the row order of the loaded study ({study}),
-- made the temporary table history_order: history_evaluations.sql pairs it with the study by position (a
-- positional join), not by a hash join on run_id (at 1,000,000 runs ~8 ms a query instead of ~40 ms).
with ordered as (
{order}
),

final as (
    select
        o.evaluation,
        o.untimed,
        s.rowid as place
    from {study} as s
    join ordered as o using (run_id)
)

select evaluation, untimed from final order by place
