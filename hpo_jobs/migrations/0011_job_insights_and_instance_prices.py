from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('hpo_jobs', '0010_job_finished_count_and_delete_failed'),
    ]

    operations = [
        migrations.AddField(
            model_name='hpojob',
            name='insights',
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='hpojob',
            name='insights_count',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='sitesettings',
            name='instance_prices',
            field=models.JSONField(blank=True, default=dict, help_text='A JSON object, instance type to USD per hour, e.g. {"ml.m5.xlarge": 0.23}. Jobs on an instance type without a price show instance-hours only.', verbose_name='price per instance-hour (USD)'),
        ),
    ]
