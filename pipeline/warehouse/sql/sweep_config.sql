-- The hyperparameters of one run ($run_id), by name: value as written.
with final as (
    select
        name,
        value
    from hyperparameters
    where run_id = $run_id
)

select * from final order by name
