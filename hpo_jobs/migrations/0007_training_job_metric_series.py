from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("hpo_jobs", "0003_training_job_status_time_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="trainingjob",
            name="metric_series",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
