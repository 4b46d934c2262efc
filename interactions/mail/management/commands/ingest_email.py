"""`manage.py ingest_email <channel> <file.eml|mbox|maildir>…`: store archived mail as if it had just arrived."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from interactions.mail.archives import ingest_paths
from interactions.models import Channel


class Command(BaseCommand):
    help = "Store .eml files, mbox files or maildirs as inbound email of a channel (id, uuid or name)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("channel", help="the email channel: its id, webhook uuid or name")
        parser.add_argument("paths", nargs="+", help=".eml files, mbox files or maildir directories")

    def handle(self, *args: Any, channel: str, paths: list[str], **options: Any) -> None:
        found = Channel.objects.filter(kind=Channel.Kind.EMAIL)
        if channel.isdigit():
            found = found.filter(pk=int(channel))
        elif len(channel) == 36 and channel.count("-") == 4:
            found = found.filter(uuid=channel)
        else:
            found = found.filter(name=channel)
        target = found.first()
        if target is None:
            raise CommandError(f"no email channel {channel!r}")
        try:
            result = ingest_paths(channel=target, paths=paths)
        except FileNotFoundError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{result.read} messages read, {result.stored} stored, {result.duplicates} already stored")
