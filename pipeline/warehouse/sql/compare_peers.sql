-- The studies that ran the same problem as study $study: sweeps (bohb, hyperband, random_search) of the same
-- search space, dataset, budgets and eta, itself included, by name. No rows: $study is no sweep; one row: no
-- other sweep ran its problem. The Compare studies page opens on these; the Sweep page shows them side by side.
with this as (
    select search_space, settings
    from studies
    where name = $study
        and kind in ('bohb', 'hyperband', 'random_search')
),

final as (
    select s.name
    from studies as s, this as t
    where s.kind in ('bohb', 'hyperband', 'random_search')
        and s.search_space::varchar is not distinct from t.search_space::varchar
        and s.settings->>'dataset' is not distinct from t.settings->>'dataset'
        and try_cast(s.settings->>'min_budget' as double) is not distinct from try_cast(t.settings->>'min_budget' as double)
        and try_cast(s.settings->>'max_budget' as double) is not distinct from try_cast(t.settings->>'max_budget' as double)
        and try_cast(s.settings->>'eta' as double) is not distinct from try_cast(t.settings->>'eta' as double)
)

select * from final
order by name
