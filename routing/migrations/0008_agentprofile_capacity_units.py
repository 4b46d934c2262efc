"""Capacity blending in units (routing/capacity.py).

Existing profiles keep today's behaviour: their `capacity_units` is added empty (blending off, the per-class limits
alone). Only then does the field get its default, so profiles created from now on blend (a call fills the agent).
"""

import django.core.validators
from django.db import migrations, models


def units_field(default: int | None, **extra: object) -> models.PositiveSmallIntegerField:
    return models.PositiveSmallIntegerField(
        default=default, validators=[django.core.validators.MaxValueValidator(1000)], **extra
    )


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0007_agentprofile_takes_work"),
    ]

    operations = [
        migrations.AddField(
            model_name="agentprofile",
            name="capacity_units",
            field=units_field(None, null=True, blank=True, verbose_name="capacity (units)"),
        ),
        migrations.AlterField(
            model_name="agentprofile",
            name="capacity_units",
            field=units_field(
                15,
                null=True,
                blank=True,
                verbose_name="capacity (units)",
                help_text="Total units of work at once; empty: only the per-channel limits apply.",
            ),
        ),
        migrations.AddField(
            model_name="agentprofile", name="voice_units", field=units_field(15, verbose_name="units per call")
        ),
        migrations.AddField(
            model_name="agentprofile", name="chat_units", field=units_field(5, verbose_name="units per chat")
        ),
        migrations.AddField(
            model_name="agentprofile", name="email_units", field=units_field(3, verbose_name="units per email")
        ),
    ]
