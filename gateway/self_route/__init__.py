"""Users' own providers (self-route): registration, routing, the console page."""
