import secrets

from django.db import migrations, models

import interactions.models


def give_each_channel_its_own_secret(apps, schema_editor):  # type: ignore[no-untyped-def]
    # AddField evaluates a callable default once for all existing rows; secrets must not be shared.
    Channel = apps.get_model("interactions", "Channel")
    for channel in Channel.objects.all():
        channel.identity_secret = secrets.token_hex(32)
        channel.save(update_fields=["identity_secret"])


class Migration(migrations.Migration):
    dependencies = [
        ("interactions", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="channel",
            name="identity_secret",
            field=models.CharField(default="", max_length=64, verbose_name="identity secret"),
            preserve_default=False,
        ),
        migrations.RunPython(give_each_channel_its_own_secret, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="channel",
            name="identity_secret",
            field=models.CharField(
                default=interactions.models.new_identity_secret, max_length=64, verbose_name="identity secret"
            ),
        ),
    ]
