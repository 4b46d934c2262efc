"""In Chromium: an email whose images hide their host the ways browsers forgive (`/\\host`, `\\\\host`, `ht<TAB>tp:`,
a leading space, CSS, srcset…) fetches nothing from that host when an agent opens it, and runs no script."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Dialog, expect

from interactions.models import Channel, Interaction
from routing.models import Queue
from tests.conftest import PASSWORD
from tests.mail_support import email_channel
from tests.mail_trust_support import ingest, mail
from tests.stack import Stack, wait_until
from tests.test_email_desk import PixelServer, pixel_server

__all__ = ["pixel_server"]


def bypass_html(host: str) -> str:
    return f"""<html><body><p>Tracking test, my order</p>
<img src="/\\{host}/backslash-slash.png">
<img src="\\\\{host}\\double-backslash.png">
<img src="ht\ttp://{host}/tab-in-scheme.png">
<img src="ht\ntp://{host}/newline-in-scheme.png">
<img src=" //{host}/leading-space.png">
<img src="//{host}/protocol-relative.png">
<img src="&#104;ttp://{host}/entity.png">
<img src="cid:none" srcset="http://{host}/srcset.png 2x">
<div style="background:url(http://{host}/css.png)">styled</div>
<table background="http://{host}/background.png"><tr><td>cell</td></tr></table>
<video poster="http://{host}/poster.png"></video>
<link rel="stylesheet" href="http://{host}/style.css">
<svg><image href="http://{host}/svg.png"/></svg>
<img src=x onerror="alert(1)">
</body></html>"""


@pytest.mark.stack
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_fetches_nothing_from_a_disguised_remote_image_host(
    stack: Stack, browser: Browser, support_queue: Queue, alice: Any, pixel_server: PixelServer
) -> None:
    mailbox: Channel = email_channel(support_queue)
    host = f"127.0.0.1:{pixel_server.port}"
    raw = mail(body=bypass_html(host), content_type="text/html; charset=utf-8", message_id="bypass@x")
    # The live worker may take the stored mail before this process does: then wait for its commit.
    interaction = ingest(mailbox, raw)
    stored = Interaction.objects.filter(channel=mailbox, external_id="bypass@x")
    wait_until(stored.exists, timeout=15, message="the mail to be processed")
    interaction = interaction or stored.get()
    page = browser.new_context().new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(f"{stack.base_url}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{stack.base_url}/desk/conversations/{interaction.conversation_id}/")

    email = page.frame_locator("iframe[title='Email content']")
    expect(email.get_by_text("Tracking test, my order")).to_be_visible()
    page.wait_for_timeout(1000)  # absence cannot be waited for: give any request time to reach the server
    assert pixel_server.hits == [], f"the email told its sender it was opened: {pixel_server.hits}"
    assert dialogs == []
