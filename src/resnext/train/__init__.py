"""Training: lr schedule, train step, session loop, rank launcher."""
