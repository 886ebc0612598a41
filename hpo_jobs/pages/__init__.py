"""The pages that read jobs: the job list, the details page and its live parts, exports, the training
job page (``views``), the server-side SVG charts (``charts``) and the staff settings page (``site_views``)."""
