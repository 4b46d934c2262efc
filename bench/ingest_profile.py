"""ingest_profile: what draining a webhook backlog costs the worker, in-process: CPU and statements per message, split
into the batches that only continue cases and those that open some, and where the time goes (cProfile).

Not part of `make bench` (a profile, not a figure): run it by hand,

    DATABASE_URL=… REDIS_URL=… python -m bench.ingest_profile --backlog 4500
    DATABASE_URL=… REDIS_URL=… python -m bench.ingest_profile --backlog 2000 --continuing --profile

It builds webhook_ingest's SMS channel, queue and agent (bench/webhook_ingest.py `create_fixture`) in its own database
(`omnidesk_bench_ingest_profile`) and shapes the backlog as that benchmark's burst leaves it: `--warm-up` messages
(processed, not measured), then `--backlog` messages from `--customers` senders drawn at random (so the first message
of most senders opens a case: ~800 of 4,500 with the defaults), stored as the intake does (`record_inbound_event`,
Twilio payloads, its nudge left out). With `--continuing` every sender opens its case first (not measured), so the
backlog holds only continuing messages. The backlog is then drained as one worker process does it: the channel's
task (`process_inbound_event_task.apply`, with the channel id and kind header a nudge publishes) again and again,
each claiming a batch (`--batch`, default the setting's 20), until none is left. CPU is `time.process_time()` around
the tasks only; statements are counted with `connection.execute_wrapper` (BEGIN/COMMIT are not executes). Without
`--profile` the CPU figures are the real ones. The cost of a new case is estimated from the batches that opened some,
less their continuing messages at the rate of the batches that opened none.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import time
from typing import Any

from bench.chat_profile import StatementCounter
from bench.environment import fresh_database, migrate, setup_django

DATABASE = "omnidesk_bench_ingest_profile"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_profile")
    parser.add_argument("--backlog", type=int, default=4500, help="messages stored, then drained (4500)")
    parser.add_argument("--customers", type=int, default=1000, help="senders drawn at random (1000)")
    parser.add_argument("--warm-up", type=int, default=200, help="messages processed before (200)")
    parser.add_argument("--batch", type=int, default=0, help="events per task (the setting's, 20)")
    parser.add_argument("--continuing", action="store_true", help="every sender opens its case before the backlog")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the tasks, CPU time (its figures then inflated)"
    )
    parser.add_argument("--sort", default="cumulative", help="cProfile order (cumulative, tottime)")
    parser.add_argument("--top", type=int, default=60)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    url = fresh_database(os.environ["DATABASE_URL"], DATABASE, bench="ingest_profile")
    redis_url = os.environ.get("REDIS_URL", "")
    migrate(url, redis_url)
    setup_django(url, redis_url)
    from celery.signals import task_prerun
    from django.conf import settings
    from django.db import connection, transaction

    from bench import webhook_ingest
    from interactions import inbound
    from interactions.models import Channel, Conversation, InboundEvent
    from interactions.tasks import process_inbound_event_task

    if args.batch:
        settings.OMNIDESK_INGEST_BATCH_SIZE = args.batch

    def kind_header(task: Any = None, **_kwargs: Any) -> None:
        # A worker makes a message's custom headers attributes of the request; `apply` keeps them in `headers`.
        setattr(task.request, inbound.KIND_HEADER, (task.request.headers or {}).get(inbound.KIND_HEADER))

    task_prerun.connect(kind_header, weak=False)
    inbound.nudge_channel = lambda **_kwargs: None  # the tasks are applied below instead
    channel = Channel.objects.select_related("queue").get(pk=webhook_ingest.create_fixture().channel_id)
    rng = random.Random(args.seed)
    numbers = [f"+336{10_000_000 + index:08d}" for index in range(args.customers)]
    sent = 0

    def store(senders: list[str]) -> None:
        nonlocal sent
        with transaction.atomic():
            for sender in senders:  # as bench/webhook_client.py signs them, stored as the intake does
                sid = f"SM{sent:032d}"
                sent += 1
                params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "ACbench", "From": sender}
                params |= {"To": "+33700000001", "Body": f"bench message {sid}", "NumMedia": "0"}
                params |= {"SmsStatus": "received", "ApiVersion": "2010-04-01"}
                inbound.record_inbound_event(channel=channel, external_id=sid, payload=params, provider="twilio")

    def task() -> None:
        result = process_inbound_event_task.apply(
            (0,), {"channel_id": channel.pk}, headers={inbound.KIND_HEADER: channel.kind}
        )
        result.get()  # raises what the task raised

    def pending() -> int:
        return InboundEvent.objects.filter(processed_at__isnull=True, dead_lettered_at__isnull=True).count()

    def drain() -> None:
        while pending():
            task()

    store([rng.choice(numbers) for _ in range(args.warm_up)])
    drain()
    if args.continuing:
        store(numbers)
        drain()
    store([rng.choice(numbers) for _ in range(args.backlog)])
    counter = StatementCounter()
    profiler = cProfile.Profile(time.process_time) if args.profile else None  # CPU, not waits
    # (messages, new cases, CPU seconds, statements) per task
    batches: list[tuple[int, int, float, int]] = []
    wall = time.perf_counter()
    while left := pending():
        cases = Conversation.objects.count()
        statements = sum(counter.kinds.values())
        start = time.process_time()
        with connection.execute_wrapper(counter):
            if profiler is not None:
                profiler.enable()
            task()
            if profiler is not None:
                profiler.disable()
        cpu = time.process_time() - start
        made = Conversation.objects.count() - cases
        batches.append((left - pending(), made, cpu, sum(counter.kinds.values()) - statements))
    wall = time.perf_counter() - wall
    report(args, batches, counter, wall=wall, profiled=profiler is not None)
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        n = max(sum(b[0] for b in batches), 1)
        for (path, _line, name), (_cc, calls, *_rest) in stats.stats.items():  # type: ignore[attr-defined]
            if (path.endswith("django/db/models/base.py") and name == "__init__") or (
                path.endswith("django/db/models/fields/json.py") and name == "from_db_value"
            ):
                print(f"  {calls / n:6.2f}  calls of {name} ({path.rsplit('/', 1)[-1]}) per message")
        stats.sort_stats(args.sort).print_stats(args.top)
        print(out.getvalue())


def report(
    args: argparse.Namespace,
    batches: list[tuple[int, int, float, int]],
    counter: StatementCounter,
    *,
    wall: float,
    profiled: bool,
) -> None:
    messages = sum(b[0] for b in batches) or 1
    new = sum(b[1] for b in batches)
    cpu = sum(b[2] for b in batches)
    statements = sum(b[3] for b in batches)
    plain = [b for b in batches if b[1] == 0 and b[0] > 0]
    plain_messages = sum(b[0] for b in plain) or 1
    plain_cpu = sum(b[2] for b in plain) / plain_messages
    opening = [b for b in batches if b[1] > 0]
    extra = sum(b[2] - b[0] * plain_cpu for b in opening) / new if new and plain else float("nan")
    under = " (under cProfile)" if profiled else ""
    print(
        f"ingest_profile{' --continuing' * args.continuing}: {messages} messages in {len(batches)} tasks,"
        f" {new} new cases; CPU{under} {cpu * 1000 / messages:.2f} ms per message,"
        f" {statements / messages:.2f} statements per message, {counter.seconds * 1000 / messages:.2f} ms waiting on"
        f" the database; batches opening no case: {len(plain)}, {plain_cpu * 1000:.2f} ms and"
        f" {sum(b[3] for b in plain) / plain_messages:.2f} statements per message;"
        f" a new case ~{extra * 1000:.1f} ms more;"
        f" drained at {messages / wall:.0f}/s in-process (one process, database waits included); load"
        f" {os.getloadavg()[0]:.1f}"
    )
    for kind, count in counter.kinds.most_common(25):
        print(f"  {count / messages:6.2f}  {kind}")


if __name__ == "__main__":
    main()
