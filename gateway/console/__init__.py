"""The console's usage pages: the dashboard, /usage/ (charts of the daily rollups, totals, the
request log with its filters and cursor), a request's detail page and the CSV export."""
