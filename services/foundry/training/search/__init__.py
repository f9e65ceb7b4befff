"""A budgeted recipe search: successive halving over learning rates and epoch counts.

`space` is the grid of recipes, `halving` the schedule (pure: which recipes train on how many
examples, within the budget, and which survive), `report` the search's record in the object
store (`jobs/<job_id>/search.json`), `runner` the service-side thread that runs a search job's
trials and its final job as child jobs through the executor.
"""
