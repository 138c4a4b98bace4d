"""Off-hours scheduling: the school calendar, maintenance windows and jobs."""
