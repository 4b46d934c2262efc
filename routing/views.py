from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from routing.models import AgentProfile
from routing.services import set_presence


@require_POST
@login_required
def presence(request: HttpRequest) -> HttpResponse:
    value = request.POST.get("presence", "")
    if value not in (AgentProfile.Presence.AVAILABLE, AgentProfile.Presence.AWAY):
        return HttpResponseBadRequest("unknown presence")
    profile = set_presence(user=request.user, presence=value)
    if getattr(request, "htmx", False):
        choices = [c for c in AgentProfile.Presence.choices if c[0] != AgentProfile.Presence.OFFLINE]
        return render(request, "desk/desk.html#presence", {"profile": profile, "presence_choices": choices})
    return redirect("desk:home")
