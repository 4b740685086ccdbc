"""The usage page's query string: the period (7, 30 or 90 UTC days up to today, or a custom
range of UTC days), how charts are stacked, and the request log's filters. Bad values never
raise: the form reports them next to its fields and the page falls back to the defaults."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django import forms
from django.utils import timezone

PERIODS = {"7": 7, "30": 30, "90": 90}
DEFAULT_PERIOD = "30"
MAX_DAYS = 366  # a custom range is at most a year of daily buckets
STATUSES = ("success", "error", "cancelled", "interrupted", "refused")
SURFACES = (
    "chat.completions",
    "completions",
    "embeddings",
    "messages",
    "messages.count_tokens",  # refusals only: a count is neither charged nor recorded
    "responses",
    "images",
)


def today_utc() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()


@dataclass(frozen=True)
class UsageQuery:
    """A validated query: inclusive UTC days, the stacking, and the log's filters (empty
    string: no filter; ``key`` is an ApiKey id, or "none" for requests without a key)."""

    start: dt.date
    end: dt.date
    period: str = DEFAULT_PERIOD
    by: str = "model"
    model: str = ""
    key: str = ""
    status: str = ""
    surface: str = ""
    params: dict[str, str] = field(default_factory=dict)

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def since(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time.min, tzinfo=dt.UTC)

    def until(self) -> dt.datetime:
        """The first instant after the range (exclusive bound)."""
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)

    def query_string(self, **changes: str) -> str:
        """The filters as a query string (without the cursor), with ``changes`` applied."""
        params = {k: v for k, v in {**self.params, **changes}.items() if v}
        return urlencode(params)


class UsageFilterForm(forms.Form):
    period = forms.ChoiceField(
        choices=[("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("custom", "Custom")],
        required=False,
        initial=DEFAULT_PERIOD,  # what an unfiltered page shows, so the select says so
    )
    start = forms.DateField(
        required=False, label="From (UTC day)", widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        required=False, label="To (UTC day)", widget=forms.DateInput(attrs={"type": "date"})
    )
    by = forms.ChoiceField(
        choices=[("model", "Model"), ("key", "API key")], required=False, label="Stack by"
    )
    model = forms.CharField(required=False, max_length=200)
    key = forms.CharField(required=False, max_length=20, label="API key")
    status = forms.ChoiceField(choices=[("", "Any")] + [(s, s) for s in STATUSES], required=False)
    surface = forms.ChoiceField(choices=[("", "Any")] + [(s, s) for s in SURFACES], required=False)

    def __init__(self, *args: object, key_choices: list[tuple[str, str]], **kwargs: object):
        super().__init__(*args, **kwargs)
        self.fields["key"].widget = forms.Select(
            choices=[("", "Any"), ("none", "No key"), *key_choices]
        )

    def clean_key(self) -> str:
        key = self.cleaned_data.get("key") or ""
        if key and key != "none" and not key.isdigit():
            raise forms.ValidationError("Choose one of your keys.")
        return key

    def clean(self) -> dict:
        data = super().clean() or {}
        # the days apply when the period says custom, or says nothing (a link with days only);
        # a preset period ignores them (the page fills them with the preset's own days)
        if data.get("period") == "custom" or (
            not data.get("period") and (data.get("start") or data.get("end"))
        ):
            start, end = data.get("start"), data.get("end")
            if not start or not end:
                raise forms.ValidationError("A custom range needs both days.")
            if start > end:
                self.add_error("end", "The last day comes before the first.")
            elif (end - start).days + 1 > MAX_DAYS:
                self.add_error("end", f"At most {MAX_DAYS} days.")
            data["period"] = "custom"
        return data


def usage_query(form: UsageFilterForm) -> UsageQuery:
    """The query a bound form asks for; the default period for whatever did not validate."""
    today = today_utc()
    data = form.cleaned_data if form.is_valid() else {}
    period = data.get("period") or DEFAULT_PERIOD
    if period == "custom" and data.get("start") and data.get("end"):
        start, end = data["start"], data["end"]
    else:
        period = period if period in PERIODS else DEFAULT_PERIOD
        start, end = today - dt.timedelta(days=PERIODS[period] - 1), today
    values = {
        "by": data.get("by") or "model",
        "model": data.get("model") or "",
        "key": data.get("key") or "",
        "status": data.get("status") or "",
        "surface": data.get("surface") or "",
    }
    params = {"period": period, **values}
    if period == "custom":
        params |= {"start": start.isoformat(), "end": end.isoformat()}
    return UsageQuery(start=start, end=end, period=period, params=params, **values)
