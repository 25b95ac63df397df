-- How many runs the runs table holds for the selection and filters (generated as in selected_runs).
select count(*) as runs
from study
where status = 'ok'
    and accuracy_on($scale, study) between $lo and $hi
    {filters}
