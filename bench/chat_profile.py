"""chat_profile: what one continuing chat message costs the worker, in-process: CPU, statements, and where the time
goes (cProfile).

Not part of `make bench` (a profile, not a figure): run it by hand,

    DATABASE_URL=… REDIS_URL=… python -m bench.chat_profile --messages 400 --batch 1
    DATABASE_URL=… REDIS_URL=… python -m bench.chat_profile --messages 400 --batch 20 --profile

It builds chat_e2e's people and channel (bench/environment.py `create_fixture`) in its own database
(`omnidesk_bench_chat_profile`), opens one chat per visitor (`--visitors`, routed to the one available agent), then
stores `--messages` continuing messages, round robin over the visitors, as the widget does (`record_widget_message`,
its commit's nudge left out) and has the worker's task process them (`process_inbound_event_task.apply`, the Celery
task applied in this process, with the channel id and kind header a nudge publishes): a task per `--batch` stored
messages, each claiming them all. CPU is `time.process_time()` around the task only; statements are counted with
`connection.execute_wrapper` (BEGIN/COMMIT are not executes). Without `--profile` the CPU figures are the real ones.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time
import uuid as uuidlib
from typing import Any

from bench.environment import create_fixture, fresh_database, migrate, setup_django
from bench.measures import StatementCounter

DATABASE = "omnidesk_bench_chat_profile"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.chat_profile")
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--visitors", type=int, default=50)
    parser.add_argument("--batch", type=int, default=1, help="messages stored before each task (it claims them all)")
    parser.add_argument(
        "--sms", action="store_true", help="webhook_ingest's Twilio SMS channel and payloads instead of the widget's"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the tasks (CPU figures then inflated)")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--sql", action="store_true", help="print the last task's statements")
    args = parser.parse_args()
    url = fresh_database(os.environ["DATABASE_URL"], DATABASE, bench="chat_profile")
    redis_url = os.environ.get("REDIS_URL", "")
    migrate(url, redis_url)
    setup_django(url, redis_url)
    from celery.signals import task_prerun
    from django.conf import settings
    from django.db import connection, transaction

    from interactions import inbound
    from interactions.models import Channel
    from interactions.tasks import process_inbound_event_task

    settings.OMNIDESK_INGEST_BATCH_SIZE = max(args.batch, 1)

    def kind_header(task: Any = None, **_kwargs: Any) -> None:
        # A worker makes a message's custom headers attributes of the request; `apply` keeps them in `headers`.
        setattr(task.request, inbound.KIND_HEADER, (task.request.headers or {}).get(inbound.KIND_HEADER))

    task_prerun.connect(kind_header, weak=False)
    inbound.nudge_channel = lambda **_kwargs: None  # the task is applied below instead
    if args.sms:
        from bench import webhook_ingest

        channel = Channel.objects.select_related("queue").get(pk=webhook_ingest.create_fixture().channel_id)
        visitors = [f"+336{10_000_000 + index:08d}" for index in range(args.visitors)]
    else:
        fixture = create_fixture()
        channel = Channel.objects.select_related("queue").get(public_key=fixture.channel_key)
        visitors = [f"bench.{uuidlib.uuid4().hex[:12]}" for _ in range(args.visitors)]

    def store(visitor: str) -> int:
        message = uuidlib.uuid4().hex
        with transaction.atomic():
            if args.sms:  # as bench/webhook_client.py signs them, stored as the intake does
                sid = f"SM{message}"
                params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "ACbench", "From": visitor}
                params |= {"To": "+33700000001", "Body": f"bench message {sid}", "NumMedia": "0"}
                params |= {"SmsStatus": "received", "ApiVersion": "2010-04-01"}
                event, _new = inbound.record_inbound_event(
                    channel=channel, external_id=sid, payload=params, provider="twilio"
                )
            else:
                event = inbound.record_widget_message(
                    channel=channel, visitor_id=visitor, uuid=message, text=f"bench {message[:8]}"
                )
        return int(event.pk)

    def task(event_id: int) -> None:
        result = process_inbound_event_task.apply(
            (event_id,), {"channel_id": channel.pk}, headers={inbound.KIND_HEADER: channel.kind}
        )
        result.get()  # raises what the task raised

    for visitor in visitors:  # each opens a chat, routed to the agent
        task(store(visitor))
    for index in range(2 * args.batch):  # warm-up: compiled queries, content types
        ids = [store(visitors[(index * args.batch + k) % len(visitors)]) for k in range(args.batch)]
        task(ids[0])
    counter = StatementCounter()
    profiler = cProfile.Profile() if args.profile else None
    cpu = 0.0
    tasks = 0
    sent = 0
    wall = time.perf_counter()
    while sent < args.messages:
        ids = [store(visitors[(sent + k) % len(visitors)]) for k in range(args.batch)]
        sent += len(ids)
        counter.statements.clear()
        start = time.process_time()
        with connection.execute_wrapper(counter):
            if profiler is not None:
                profiler.enable()
            task(ids[0])
            if profiler is not None:
                profiler.disable()
        cpu += time.process_time() - start
        tasks += 1
    wall = time.perf_counter() - wall
    from interactions.models import InboundEvent

    pending = InboundEvent.objects.filter(processed_at__isnull=True).count()
    n = max(sent, 1)
    under = " (under cProfile)" if profiler is not None else ""
    print(
        f"chat_profile{' --sms' * args.sms}: {sent} continuing messages in {tasks} tasks of {args.batch},"
        f" {len(visitors)} visitors;"
        f" CPU{under} {cpu * 1000 / n:.2f} ms per message; {sum(counter.kinds.values()) / n:.2f} statements per"
        f" message, {counter.seconds * 1000 / n:.2f} ms waiting on the database; {pending} left pending;"
        f" wall incl. storing {wall:.1f} s; load {os.getloadavg()[0]:.1f}"
    )
    for kind, count in counter.kinds.most_common():
        print(f"  {count / n:6.2f}  {kind}")
    if args.sql:
        print("\n".join(counter.statements))
    if profiler is not None:
        out = io.StringIO()
        order = os.environ.get("PROFILE_SORT", "cumulative")  # tottime: by each function's own time
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
        print(out.getvalue())


if __name__ == "__main__":
    main()
