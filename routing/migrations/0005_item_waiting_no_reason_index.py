from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0004_item_skill_ids"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="routingitem",
            index=models.Index(
                condition=models.Q(("reason", ""), ("state", "waiting")),
                fields=["queue", "capacity_class"],
                name="routingitem_waiting_no_reason",
            ),
        ),
    ]
