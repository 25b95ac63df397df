-- The q-quantile of accuracy on the $scale ('raw', 'normalized', 'rank') over the study's finished runs, pooled over datasets.
select quantile_cont(accuracy_on($scale, study), $q) as value
from study
where status = 'ok' and accuracy is not null
