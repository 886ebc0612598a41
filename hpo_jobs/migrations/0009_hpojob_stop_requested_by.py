"""Who asked for a job's stop, so that its pages can say why it ended."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("hpo_jobs", "0007_training_job_metric_series"),
    ]

    operations = [
        migrations.AddField(
            model_name="hpojob",
            name="stop_requested_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
