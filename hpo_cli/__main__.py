from hpo_cli.main import app

app(prog_name="hpo")
