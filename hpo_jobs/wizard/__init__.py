"""The create wizard: its steps and forms (``forms``), the conversion between wizard values and a
request (``convert``), the ECR picker (``ecr``), and the views of create, import and clone (``views``)."""
