-- Every run of the loaded study (all budgets), for the Exploration history page: its budget and configuration,
-- how it was sampled, its test accuracy and its accuracy on the sidebar's scale ($scale), and each shown
-- hyperparameter's raw value (h<i>, binned ones) or option code (b<i>), and the dataset as b0_text where
-- it is shown: the generated column list below holds only these.
with final as (
    select
        run_id,
        status,
        coalesce(config_id, run_id::varchar) as config_id,
        budget,
        sampled_as,
        accuracy,
        accuracy_on($scale, study) as score{columns}
    from study
)

select * from final
