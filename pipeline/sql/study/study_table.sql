-- The loaded study: the pivoted runs (table wide) plus accuracy normalized per dataset and the
-- option code b<i> of every parameter (generated; options and bins bound as parameters).
with normalized as (
    select
        *,
        min(accuracy) over per_dataset as dataset_min,
        max(accuracy) over per_dataset as dataset_max
    from wide
    window per_dataset as (partition by dataset)
),

final as (
    select
        * exclude (dataset_min, dataset_max),
        case
            when dataset_max > dataset_min then (accuracy - dataset_min) / (dataset_max - dataset_min)
            when accuracy is not null then 1.0
        end as accuracy_norm,
        {codes}
    from normalized
)

select * from final order by run_id
