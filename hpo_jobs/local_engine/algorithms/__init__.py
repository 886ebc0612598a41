"""SageMaker's built-in algorithms that run on the local engine (XGBoost, Linear Learner, k-NN).

Each module is a training program under SageMaker's container contract: it reads
``$SAGEMAKER_BASE_DIR`` (``/opt/ml`` by default), takes SageMaker's hyperparameter names, reads CSV
channels in SageMaker's format (label first, no header), prints its metrics as SageMaker's image
prints them, saves its model to ``model/`` and explains a failure in ``output/failure``.
"""
