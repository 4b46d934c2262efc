"""Supervisor analytics: KPI definitions, staffing (Erlang C) and, later, reporting events and rollups."""
