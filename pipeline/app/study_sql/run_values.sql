-- The finished runs with an accuracy, for analyses that need values rather than counts (correlations,
-- embeddings). Generated: {columns}, run columns and the parameters' h<i> / b<i>; {sample}, nothing or
-- a reservoir sample clause with its size and seed as integers.
with finished as (
    select {columns}
    from study
    where status = 'ok' and accuracy is not null
),

final as (
    select *
    from finished {sample}
)

select * from final
order by run_id
