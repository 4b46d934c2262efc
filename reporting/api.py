"""The reports' REST API (in the OpenAPI schema): the same figures and the same visibility as /desk/reports/."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from interactions import access
from reporting import selectors, staffing, views
from routing.models import Queue

PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="First local date (inclusive)."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last local date (inclusive); the range is half-open."),
    OpenApiParameter("tz", str, description="The supervisor's time zone (default Europe/Paris)."),
    OpenApiParameter("group", str, enum=list(selectors.GROUPS)),
    OpenApiParameter("queue", int),
    OpenApiParameter("channel", str),
    OpenApiParameter("intent", int),
    OpenApiParameter("agent", int),
]


def _key(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


class ReportView(APIView):
    @extend_schema(
        operation_id="reports_retrieve",
        parameters=PARAMETERS,
        responses={200: OpenApiTypes.OBJECT},
        description="KPIs (docs/kpis.md) grouped as asked, the total and the previous period of the same length. "
        "Agents get their own figures only; supervisors everyone's.",
    )
    def get(self, request: Request) -> Response:
        if not access.is_active_agent(request.user):
            raise PermissionDenied
        params = views.report_params(request._request)
        data = selectors.report(user=request.user, **params)
        return Response(
            {
                "from": params["first"].isoformat(),
                "to": params["last"].isoformat(),
                "group": params["group"],
                "rows": [{"key": _key(k), **v} for k, v in data["rows"].items()],
                "total": data["total"],
                "previous": data["previous"],
            }
        )


class StaffingView(APIView):
    @extend_schema(
        operation_id="reports_staffing",
        parameters=[OpenApiParameter("queue", int, required=True), OpenApiParameter("date", OpenApiTypes.DATE)],
        responses={200: OpenApiTypes.OBJECT},
        description="Erlang C: agents needed per 15-minute interval for the queue's service level goal. Supervisors.",
    )
    def get(self, request: Request) -> Response:
        if not access.is_supervisor(request.user):
            raise PermissionDenied("Supervisors only.")
        queue = Queue.objects.filter(pk=int(request.query_params.get("queue") or 0)).first()
        if queue is None:
            return Response({"detail": "Unknown queue."}, status=404)
        day = views._parse_date(request.query_params.get("date"), selectors.today_for(queue.timezone))
        return Response(
            {"queue": queue.pk, "date": day.isoformat(), "intervals": staffing.forecast(queue=queue, day=day)}
        )
