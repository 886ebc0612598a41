"""The local engine: runs a CreateHyperParameterTuningJob request on this machine.

Nothing in this package imports Django: the supervisor runs as a plain Python process started by
``hpo_jobs.backends.local``, which resolves everything that needs settings (commands, channel
paths, limits) into the job folder's ``plan.json`` before the supervisor starts.
"""
