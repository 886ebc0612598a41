"""The JSON API under /api/v1/ and the personal API tokens it accepts (Django app label ``api``).

The API reads and acts through the same access rules (``projects.access``), validation (the import
page's) and services (``hpo_jobs.services``) as the pages; it restates none of them.
"""
