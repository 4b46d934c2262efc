"""Real mail servers on loopback for the email tests: aiosmtpd (outbound SMTP) and a throwaway Dovecot (IMAP).

A test module uses a fixture by naming it at module level: `smtp_server = mail_support.smtp_server`.
"""

from __future__ import annotations

import email
import imaplib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from interactions.models import Channel
from routing.models import Queue
from tests.stack import free_port, wait_until

FIXTURES = Path(__file__).resolve().parent / "mail_fixtures"
IMAP_USER = "support@example.com"
IMAP_PASSWORD = "imap-test-password"


def fixture_bytes(name: str, **placeholders: object) -> bytes:
    """A fixture message, with `__NAME__` placeholders (reply tokens, conversation ids) filled in."""
    raw = (FIXTURES / name).read_bytes()
    for key, value in placeholders.items():
        raw = raw.replace(f"__{key.upper()}__".encode(), str(value).encode())
    return raw


# --- SMTP ------------------------------------------------------------------------------------------------------------


@dataclass
class RecordingHandler:
    """Keeps every accepted message; `refuse_next` answers the next DATA commands with the given SMTP replies."""

    messages: list[EmailMessage] = field(default_factory=list)
    refuse_next: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_next:
            return self.refuse_next.pop(0)
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: RecordingHandler

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """aiosmtpd on a free loopback port, recording what it accepts."""
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(host="127.0.0.1", port=port, handler=handler)
    finally:
        controller.stop()


WEBHOOK_SIGNING_KEY = "mailgun-test-signing-key"


def email_channel(queue: Queue, *, secrets: dict[str, str] | None = None, **config: Any) -> Channel:
    """An email channel for support@example.com, routed to `queue`."""
    return Channel.objects.create(
        kind=Channel.Kind.EMAIL,
        name="Support mailbox",
        queue=queue,
        config={"address": "support@example.com", **config},
        secrets={"webhook_signing_key": WEBHOOK_SIGNING_KEY, **(secrets or {})},
    )


# --- IMAP ------------------------------------------------------------------------------------------------------------

DOVECOT_CONF = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = {uid}
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


@dataclass
class Dovecot:
    host: str
    port: int
    user: str
    password: str
    root: Path

    def connect(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        client.login(self.user, self.password)
        return client

    def append(self, *messages: bytes, folder: str = "INBOX") -> None:
        """Deliver messages the way a mail server would: IMAP APPEND."""
        client = self.connect()
        try:
            for raw in messages:
                status, data = client.append(folder, "", imaplib.Time2Internaldate(time.time()), raw)
                assert status == "OK", data
        finally:
            client.logout()

    def flagged_seen(self, folder: str = "INBOX") -> tuple[int, int]:
        """(messages in the folder, of which flagged \\Seen)."""
        client = self.connect()
        try:
            client.select(folder, readonly=True)
            _status, everything = client.uid("SEARCH", "ALL")
            _status, seen = client.uid("SEARCH", "SEEN")
            return len((everything[0] or b"").split()), len((seen[0] or b"").split())
        finally:
            client.logout()

    def channel(self, queue: Queue, **extra: Any) -> Channel:
        """An email channel polling this mailbox."""
        config = {"imap_host": self.host, "imap_port": self.port, "imap_user": self.user, "poll_interval": 1, **extra}
        return email_channel(queue, secrets={"imap_password": self.password}, **config)


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """Debian's Dovecot with a throwaway config, in the foreground, on a free loopback port; one mailbox."""
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not os.path.exists(binary):
        pytest.fail("dovecot is not installed: `apt-get install dovecot-imapd` (make test installs it)")
    # Not under pytest's tmp dirs: those are 0700, and Dovecot's unprivileged processes must traverse the path.
    root = Path(tempfile.mkdtemp(prefix="omnidesk-dovecot-"))
    mail_owner = pwd.getpwnam("dovecot") if os.getuid() == 0 else pwd.getpwuid(os.getuid())
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir()
    for sub in ("mail", "home"):
        shutil.chown(root / sub, mail_owner.pw_uid, mail_owner.pw_gid)
    os.chmod(root, 0o755)
    port = free_port()
    (root / "passwd").write_text(f"{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}\n")
    config = root / "dovecot.conf"
    config.write_text(DOVECOT_CONF.format(root=root, uid=mail_owner.pw_uid, gid=mail_owner.pw_gid, port=port))
    process = subprocess.Popen(
        [binary, "-F", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=open(root / "stderr.log", "wb"),  # noqa: SIM115 - lives as long as the server
        start_new_session=True,
    )
    server = Dovecot(host="127.0.0.1", port=port, user=IMAP_USER, password=IMAP_PASSWORD, root=root)

    def answers() -> bool:
        if process.poll() is not None:
            log = (root / "stderr.log").read_text() + (root / "dovecot.log").read_text(errors="replace")
            raise RuntimeError(f"dovecot exited: {log}")
        try:
            server.connect().logout()
        except OSError:
            return False
        return True

    try:
        wait_until(answers, timeout=20, interval=0.1, message="dovecot to accept a login")
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
