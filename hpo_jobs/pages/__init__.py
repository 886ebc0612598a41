"""The pages that read jobs: the job list, the details page and its live parts, exports, the training
job page (``views``), the server-side SVG charts (``charts``), the staff settings page (``site_views``)
and a request read for people (``presenters``), shared with the wizard's review."""
