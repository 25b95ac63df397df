-- Every run of one study as an evaluation of the Exploration history page, a temporary view that the page's
-- other history_*.sql queries aggregate (a view, not a table: joining again in a query costs less than copying a
-- million rows once): its evaluation number (history_order, a temporary table made from the warehouse by
-- warehouse/sql/history_order.sql in the study's row order: history_aligned.sql), its configuration's first and final evaluation and how it was first sampled
-- (history_configs.sql; a run without a config_id is a configuration of its own), and the loaded study's values
-- (history_values.sql; a query takes accuracy_on($scale, e) for the sidebar's scale).
with final as (
    select
        o.evaluation,
        o.untimed,
        v.*,
        coalesce(c.first_evaluation, o.evaluation) as first_evaluation,
        coalesce(c.final_evaluation, o.evaluation) as final_evaluation,
        case when v.config_id is null then v.sampled_as else c.origin end as origin
    from history_order as o
    positional join history_values as v
    left join history_configs as c using (config_id)
)

select * from final
