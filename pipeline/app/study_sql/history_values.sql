-- The loaded study's runs as the Exploration history reads them, a temporary view: the run columns the page
-- uses and each panel's value p<k> (generated): an option code, or a binned number's raw value h<i>.
with final as (
    select
        s.run_id,
        s.config_id,
        s.budget,
        s.status,
        s.sampled_as,
        s.accuracy,
        s.accuracy_norm,
        s.accuracy_rank{values}
    from study as s
)

select * from final
