"""Desk (htmx) views of the agent's assistance: thin adapters around assist's services."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from assist import canned, canned_admin, composer_files, next_action, notes
from assist.models import CannedResponse
from assist.templatetags.assist_tags import next_action_panel_context
from interactions import access, selectors
from interactions.models import Conversation
from omnidesk.http import HtmxHttpRequest
from routing.models import Queue


@require_POST
@login_required
def add_note(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The composer in Note mode: an internal note, never sent to the customer."""
    conversation = access.get_conversation_for_action(request.user, pk)
    try:
        note = notes.add_note(conversation=conversation, author=request.user, text=request.POST.get("text", ""))
    except ValidationError as error:
        context = {
            "conversation": conversation,
            "errors": error.messages,
            "mode": "note",
            "draft": request.POST.get("text", ""),
            "reply_channels": selectors.reply_channels(conversation, request.user),
        }
        response = render(request, "desk/desk.html#composer", context, status=422)
        return reswap(retarget(response, "#composer"), "outerHTML")
    if not request.htmx:
        return redirect("desk:conversation", pk=pk)
    return render(request, "desk/desk.html#sent", {"conversation": note.conversation, "item": note})


@require_GET
@login_required
def open_mention(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Marks the mention read and opens its conversation."""
    mention = notes.open_mention(user=request.user, pk=pk)
    return redirect("desk:conversation", pk=mention.conversation_id)


@require_GET
@login_required
def canned_search(request: HtmxHttpRequest, pk: int) -> JsonResponse:
    """The composer's "/" search: canned responses rendered for this conversation's customer."""
    conversation = access.get_conversation_for_action(request.user, pk)
    query = request.GET.get("q", "")[:100]
    return JsonResponse({"results": canned.suggestions(user=request.user, conversation=conversation, query=query)})


def _canned_page(request: HtmxHttpRequest, *, errors: list[str] | None = None, status: int = 200) -> HttpResponse:
    context = {
        "responses": canned_admin.manageable_by(request.user),
        "scopes": CannedResponse.Scope.choices,
        "queues": Queue.objects.order_by("name"),
        "is_supervisor": access.is_supervisor(request.user),
        "errors": errors or [],
        "imported": request.GET.get("imported"),
    }
    return render(request, "desk/canned.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def canned_list(request: HtmxHttpRequest) -> HttpResponse:
    """The desk's canned responses page: everyone's personal ones, supervisors' shared ones."""
    if request.method == "GET":
        return _canned_page(request)
    raw_queue = request.POST.get("queue", "")
    queue = Queue.objects.filter(pk=raw_queue).first() if raw_queue.isdigit() else None
    try:
        canned_admin.save_canned(
            user=request.user,
            shortcut=request.POST.get("shortcut", ""),
            title=request.POST.get("title", ""),
            body=request.POST.get("body", ""),
            language=request.POST.get("language", ""),
            scope=request.POST.get("scope", CannedResponse.Scope.PERSONAL),
            queue=queue,
        )
    except ValidationError as error:
        return _canned_page(request, errors=error.messages, status=422)
    return redirect("desk:canned-list")


@require_POST
@login_required
def canned_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    canned_admin.delete_canned(user=request.user, pk=pk)
    return redirect("desk:canned-list")


@require_GET
@login_required
def canned_export(request: HtmxHttpRequest) -> HttpResponse:
    response = HttpResponse(canned_admin.export_csv(request.user), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="canned-responses.csv"'
    return response


@require_POST
@login_required
def canned_import(request: HtmxHttpRequest) -> HttpResponse:
    upload = request.FILES.get("file")
    if upload is None or (upload.size or 0) > 2_000_000:
        return _canned_page(request, errors=[_("Choose a CSV file of at most 2 MB.")], status=422)
    try:
        content = upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        return _canned_page(request, errors=[_("The file must be UTF-8 text.")], status=422)
    saved, errors = canned_admin.import_csv(user=request.user, content=content)
    if errors:
        return _canned_page(request, errors=errors, status=422)
    return redirect(f"{reverse('desk:canned-list')}?imported={saved}")


def _next_actions_panel(
    request: HtmxHttpRequest, conversation: Conversation, *, message: str = "", errors: list[str] | None = None
) -> HttpResponse:
    context = next_action_panel_context(
        user=request.user, conversation=conversation, message=message, errors=errors or []
    )
    return render(request, "desk/_next_action.html", context, status=422 if errors else 200)


@require_GET
@login_required
def next_actions(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The next-best-action panel of a conversation, ranked for the agent."""
    conversation = access.get_conversation_for_action(request.user, pk)
    return _next_actions_panel(request, conversation)


@require_POST
@login_required
def next_action_feedback(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """An agent applied (the browser did the action) or dismissed a suggestion: recorded, the panel re-ranked."""
    conversation = access.get_conversation_for_action(request.user, pk)
    try:
        next_action.record_feedback(
            user=request.user,
            conversation=conversation,
            key=request.POST.get("key", ""),
            outcome=request.POST.get("outcome", ""),
        )
    except ValidationError as error:
        return _next_actions_panel(request, conversation, errors=error.messages)
    return _next_actions_panel(request, conversation)


@require_POST
@login_required
def next_action_callback(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The "offer a callback" suggestion's form: the callback is requested and the suggestion counted as applied."""
    conversation = access.get_conversation_for_action(request.user, pk)
    raw_channel = request.POST.get("channel", "")
    channel = next((c for c in next_action.voice_channels_for(request.user) if str(c.pk) == raw_channel), None)
    try:
        if channel is None:
            raise ValidationError(_("Pick one of the offered phone lines."), code="bad_channel")
        callback = next_action.offer_callback(
            user=request.user,
            conversation=conversation,
            channel=channel,
            number=request.POST.get("number", ""),
            note=request.POST.get("note", ""),
        )
    except ValidationError as error:
        return _next_actions_panel(request, conversation, errors=error.messages)
    message = _("Callback to %(number)s requested.") % {"number": callback.number}
    return _next_actions_panel(request, conversation, message=message)


@require_GET
def widget_file(request: HttpRequest, token: str) -> FileResponse:
    """A file an agent sent on the website chat, for the visitor: the link itself is the permission (signed for that
    file, expiring). Always a download, never rendered in our origin."""
    attachment = composer_files.attachment_for_widget_token(token)
    if attachment is None:
        raise Http404("No such file")
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.filename,
        content_type="application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
