"""Export every customer in normal use as CSV (cells neutralized against CSV injection, see customers.csv_io)."""

import io
from typing import Any

from django.core.management.base import BaseCommand

from customers import csv_io
from customers.models import Customer


class Command(BaseCommand):
    help = "Write all customers (not merged away, not erased) as CSV to standard output or --output."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")

    def handle(self, *args: Any, output: str | None, **options: Any) -> None:
        customers = Customer.objects.filter(merged_into__isnull=True, erased_at__isnull=True)
        if output is None:
            out = io.StringIO()
            csv_io.write_customers(customers, out)
            self.stdout.write(out.getvalue(), ending="")
            return
        with open(output, "w", encoding="utf-8", newline="") as file:
            count = csv_io.write_customers(customers, file)
        self.stderr.write(f"{count} customers written to {output}")
