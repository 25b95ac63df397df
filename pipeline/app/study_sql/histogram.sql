-- Networks per dataset and accuracy bin ($bins equal bins on 0..1), raw or normalized accuracy.
with scored as (
    select
        dataset,
        accuracy_on($normalized, study) as x
    from study
    where status = 'ok' and accuracy is not null
),

binned as (
    select dataset, least(floor(x * $bins), $bins - 1)::integer as bin
    from scored
),

final as (
    select
        dataset,
        bin,
        bin / $bins as x0,
        (bin + 1) / $bins as x1,
        count(*) as networks
    from binned
    group by dataset, bin
)

select * from final order by dataset, bin
