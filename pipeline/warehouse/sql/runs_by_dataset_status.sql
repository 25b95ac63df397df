-- Runs per dataset and status over the whole warehouse, with the best test accuracy.
with final as (
    select
        dataset,
        status,
        count(*) as runs,
        max(test_accuracy) as best_test_accuracy
    from runs
    group by dataset, status
)

select * from final order by dataset, status
