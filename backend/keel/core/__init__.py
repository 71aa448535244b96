"""Domain-free plumbing: configuration, database, unit of work, errors, jobs, observability."""
