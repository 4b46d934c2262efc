"""The partial index of waiting items without a reason gets the item's id as its last column (issue 16, round 6).

While a class is full, every push decision looks for the class's waiting items without a reason (the full classes'
reason, `single_decision._explain_cte`, `engine._EXPLAIN_SQL`). PostgreSQL answered with a bitmap scan of this
index, and a bitmap scan never marks an index entry dead: the entries of items whose reason was set (or that were
assigned) stay until vacuum, and each decision re-read their heap pages (1,009 entries, 157 pages, 0.3–0.7 ms per
decision on the routing benchmark once voice is full). Those statements now first ask for the first such item in
id order, an ordered index walk that stops at the first live entry and marks the dead ones it passes, so that the
next decision skips them.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0009_routing_lean_candidate_order"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="routingitem",
            name="routingitem_waiting_no_reason",
        ),
        migrations.AddIndex(
            model_name="routingitem",
            index=models.Index(
                condition=models.Q(("reason", ""), ("state", "waiting")),
                fields=["queue", "capacity_class", "id"],
                name="routingitem_waiting_no_reason",
            ),
        ),
    ]
