"""SageMaker's own facts about a tuning job, Django-free: a request's definitions in either form, its
objective, grid size, limits, name patterns, the status vocabulary and botocore's error codes
(``request``), the service-model check and the documented rules of a CreateHyperParameterTuningJob
request (``spec``), metrics read from a log (``metrics``), and the built-in algorithms as data
(``catalogue``). Models, services, the wizard, both engines and the pages read them from here."""
