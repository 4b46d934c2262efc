"""search: customer search and message search on a large CRM data set, for rare, mid and very common terms.

What is measured
    customers.selectors.search_interactions and search_customers called in process (the selectors' SQL on
    PostgreSQL, no HTTP), as the seeded supervisor (sees everything) and as the seeded agent (member of one of four
    queues: sees about a quarter of the customers). Terms come from seed_volume's vocabulary of known frequency:
    interactions: rare ≈ 50 messages per million, mid ≈ 1 %, common 20–50 % of the messages; customers: rare = one
    email address / one phone number, mid = a last name (~2 % of customers), common = a two-letter fragment.

Reading a line
    {"bench": "search", "target": "interactions"|"customers", "role": "supervisor"|"agent",
     "term_class": "rare"|"mid"|"common", "interactions": N, "calls": n, "queries": q, "results": r,
     "p50_ms": …, "p99_ms": …, "max_ms": …}
    - calls: timed calls, spread round-robin over the terms of the class; queries and results: of the last call.
    - Percentiles are nearest-rank, in milliseconds.

Uses the CRM database of bench.timeline (seeded once by seed_volume, reused while big enough).
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable
from typing import Any

from bench.measures import percentile, rounded
from bench.timeline import add_crm_arguments, measure, prepare_crm

Emit = Callable[[dict[str, Any]], None]

CUSTOMER_TERMS = {
    "rare": ["big.customer@volume", "06 00 00 00 02", "+33600000003"],
    "mid": ["Kowalski", "Nguyen", "Dupont"],
    "common": ["ma", "an", "er"],
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_crm_arguments(parser)


def run(args: argparse.Namespace, *, emit: Emit) -> None:
    interactions = prepare_crm(args)
    from django.contrib.auth import get_user_model

    from customers import selectors
    from customers.management.commands.seed_volume import AGENT_USERNAME, SEARCH_TERMS, SUPERVISOR_USERNAME

    users = get_user_model().objects.select_related("agent_profile")
    roles = {"supervisor": users.get(username=SUPERVISOR_USERNAME), "agent": users.get(username=AGENT_USERNAME)}
    searches: list[tuple[str, Callable[[Any, str], list[Any]], dict[str, list[str]]]] = [
        ("interactions", selectors.search_interactions, SEARCH_TERMS),
        ("customers", selectors.search_customers, CUSTOMER_TERMS),
    ]
    for target, search, terms in searches:
        for role, user in roles.items():
            for term_class, words in terms.items():
                cycle = itertools.cycle(words)
                last: list[Any] = []

                def call(search: Any = search, user: Any = user, cycle: Any = cycle, last: list[Any] = last) -> None:
                    last[:] = search(user, next(cycle))

                times, queries = measure(call, args.crm_requests)
                emit(
                    {
                        "bench": "search",
                        "target": target,
                        "role": role,
                        "term_class": term_class,
                        "interactions": interactions,
                        "calls": len(times),
                        "queries": queries,
                        "results": len(last),
                        "p50_ms": rounded(percentile(times, 50)),
                        "p99_ms": rounded(percentile(times, 99)),
                        "max_ms": rounded(times[-1]),
                    }
                )
