-- How many runs fill each column of the study table (0: the column is empty for the whole study).
select count(columns(*))
from study
