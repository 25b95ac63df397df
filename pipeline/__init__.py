"""Everything that is not a page: the warehouse, the search spaces, datasets, training, jobs."""
