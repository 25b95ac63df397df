-- How many runs the runs table holds for the selection and filters (generated as in selected_runs).
select count(*) as runs
from study
where status = 'ok'
    and (case when $normalized then accuracy_norm else accuracy end) between $lo and $hi
    {filters}
