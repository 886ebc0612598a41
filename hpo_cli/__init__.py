"""``hpo``: the HPO Portal's command-line client, over the portal's JSON API (/api/v1/)."""
