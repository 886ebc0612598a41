"""SageMaker's own facts about a tuning job, Django-free: the service-model check and the documented
rules of a CreateHyperParameterTuningJob request (``spec``), and the built-in algorithms as data
(``catalogue``). Models, services, the wizard, both engines and the pages read them from here."""
