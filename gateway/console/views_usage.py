"""/usage/ (charts, totals, the request log), its charts as SVG, its CSV export, and one
request's detail page. Every read is the signed-in user's own: another user's request is a
404, never a row."""

from __future__ import annotations

from csp.decorators import csp_replace
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.models import ApiKey
from billing.templatetags.money import credits as credits_text
from gateway.console import charts
from gateway.console.export import export_rows
from gateway.console.filters import UsageFilterForm, UsageQuery, today_utc, usage_query
from gateway.console.requests_log import log_page_for, log_queryset
from gateway.console.usage import models_used, usage_charts, usage_totals_by
from gateway.console.views_tasks import task_public_id_for
from gateway.models import Generation


def _query(request: HttpRequest) -> tuple[UsageFilterForm, UsageQuery]:
    keys = ApiKey.objects.filter(user=request.user).values_list("id", "name", "prefix")
    choices = [(str(pk), f"{name} ({prefix})") for pk, name, prefix in keys]
    form = UsageFilterForm(request.GET or None, key_choices=choices)
    return form, usage_query(form)


@login_required
@require_GET
def usage(request: HttpRequest) -> HttpResponse:
    form, query = _query(request)
    user_id = request.user.pk
    spend, tokens = usage_charts(user_id=user_id, start=query.start, end=query.end, by=query.by)
    page = log_page_for(user_id=user_id, query=query, cursor=request.GET.get("cursor", ""))
    context = {
        "form": form,
        "days_fields": [(form["start"], query.start), (form["end"], query.end)],
        "query": query,
        "filters": query.query_string(),
        "spend": spend,
        "tokens": tokens,
        "by_model": usage_totals_by(user_id=user_id, start=query.start, end=query.end, by="model"),
        "by_key": usage_totals_by(user_id=user_id, start=query.start, end=query.end, by="key"),
        "models": models_used(user_id=user_id, start=query.start, end=query.end),
        "page": page,
        "first_page": bool(request.GET.get("cursor")),
        "today": today_utc(),
    }
    return render(request, "gateway/usage.html", context)


# An image runs no script and loads nothing; its own policy allows only the SVG's <style>.
@csp_replace({"default-src": ["'none'"], "style-src": ["'unsafe-inline'"]})
@login_required
@require_GET
def usage_chart(request: HttpRequest, kind: str) -> HttpResponse:
    """``spend.svg`` or ``tokens.svg`` for the same query string as the usage page (``size``
    "small" for phones)."""
    if kind not in ("spend", "tokens"):
        raise Http404
    _, query = _query(request)
    spend, tokens = usage_charts(
        user_id=request.user.pk, start=query.start, end=query.end, by=query.by
    )
    size = request.GET.get("size", "wide")
    if kind == "spend":
        svg = charts.chart_svg(spend, label=charts.credits_label, size=size)
    else:
        svg = charts.chart_svg(tokens, label=charts.tokens_label, size=size)
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=60"
    return response


@login_required
@require_GET
def usage_export(request: HttpRequest) -> StreamingHttpResponse:
    """The request log under the page's filters as CSV, streamed (no cursor: every row)."""
    _, query = _query(request)
    rows = log_queryset(user_id=request.user.pk, query=query)
    response = StreamingHttpResponse(
        export_rows(rows, user_id=request.user.pk), content_type="text/csv; charset=utf-8"
    )
    name = f"usage-{query.start.isoformat()}-{query.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_GET
def generation_detail(request: HttpRequest, request_id: str) -> HttpResponse:
    generation = (
        Generation.objects.filter(user=request.user, request_id=request_id)
        .select_related("api_key", "ledger_entry")
        .first()
    )
    if generation is None:
        raise Http404("No such request.")
    breakdown = generation.cost_breakdown if isinstance(generation.cost_breakdown, dict) else {}
    context = {
        "g": generation,
        "prices": list(generation.prices.items()) if isinstance(generation.prices, dict) else [],
        "breakdown": list(breakdown.items()),
        "attempts": generation.attempts if isinstance(generation.attempts, list) else [],
        "total_text": credits_text(generation.cost),
        "task_public_id": task_public_id_for(user_id=request.user.pk, generation=generation),
    }
    return render(request, "gateway/generation_detail.html", context)
