-- The q-quantile of (raw or normalized) accuracy over the study's finished runs.
select quantile_cont(case when $normalized then accuracy_norm else accuracy end, $q) as value
from study
where status = 'ok' and accuracy is not null
