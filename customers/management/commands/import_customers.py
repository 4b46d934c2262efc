"""Import customers from a CSV file (see customers.csv_io for the columns and the matching rules)."""

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from customers import csv_io


class Command(BaseCommand):
    help = "Create or update customers from a CSV file; prints what became of each line. Safe to run twice."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="CSV file with a header line (display_name, email, phone, …, attr:<key>)")

    def handle(self, *args: Any, file: str, **options: Any) -> None:
        try:
            content = csv_io.decode_csv(Path(file).read_bytes())
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error}") from error
        except ValidationError as error:
            raise CommandError(f"Cannot read {file}: {' '.join(error.messages)}") from error
        summary = csv_io.ImportSummary()
        for result in csv_io.import_lines(content):
            summary.add(result)
            if result.outcome == "error":
                details = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in result.errors.items())
                self.stdout.write(self.style.ERROR(f"line {result.line}: error: {details}"))
            else:
                self.stdout.write(f"line {result.line}: {result.outcome} customer #{result.customer_id}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{summary.created} created, {summary.updated} updated, {summary.unchanged} unchanged,"
                f" {len(summary.errors)} lines with errors"
            )
        )
