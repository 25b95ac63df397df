-- Study names, oldest first (the sidebar's picker).
select name from studies order by created_at, study_id
