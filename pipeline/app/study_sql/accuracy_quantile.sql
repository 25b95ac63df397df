-- The q-quantile of (raw or normalized) accuracy over the study's finished runs.
select quantile_cont(accuracy_on($normalized, study), $q) as value
from study
where status = 'ok' and accuracy is not null
