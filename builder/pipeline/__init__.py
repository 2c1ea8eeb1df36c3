"""The build pipeline: plan, schedule, fetch, build, repair, normalize, test, store."""
