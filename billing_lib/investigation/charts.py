"""Plotly figures of an investigation, in the look of :mod:`billing_lib.reports.charts`.

Each returns a figure, or None when there is nothing to draw. Labels from data are escaped for plotly;
money and quantities become floats only for drawing.
"""
from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl

from billing_lib.reports.charts import BAR_COLOR, FONT, SEVERITY_COLORS, plot_text

COLORS = ("#34495e", "#27ae60", "#2980b9", "#8e44ad", "#e67e22", "#16a085", "#c0392b")


def _base_layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(template="plotly_white", title=dict(text=plot_text(title)), font=FONT, height=height,
                      margin=dict(l=10, r=30, t=60, b=40),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0))
    return fig


def subscription_timeline(subs: pl.DataFrame, until: dt.date) -> go.Figure | None:
    """Each subscription as a bar from its start to its end (open-ended ones to ``until``); ``subs`` is
    :func:`billing_lib.investigation.story.subscriptions`."""
    if subs.is_empty():
        return None
    fig = go.Figure()
    for i, r in enumerate(subs.iter_rows(named=True)):
        end = r["end_date"] or until
        days = (end - r["start_date"]).days + 1
        label = plot_text(f"{r['subscription_id']} · {r['plan_id']}")
        fig.add_trace(go.Bar(
            orientation="h", y=[label], x=[days * 86_400_000], base=[r["start_date"].isoformat()],
            marker_color=COLORS[i % len(COLORS)], showlegend=False,
            hovertemplate=plot_text(f"{r['subscription_id']} {r['product'] or ''}: {r['start_date']} to "
                                 f"{r['end_date'] or 'open'}, {r['seats']} seat(s)") + "<extra></extra>"))
    fig.update_xaxes(type="date")
    fig.update_yaxes(autorange="reversed", automargin=True, type="category")
    return _base_layout(fig, "Subscriptions over time", max(220, 110 + 40 * subs.height))


def usage_against_billed(usage: pl.DataFrame) -> go.Figure | None:
    """Metered units against billed quantity per month and usage subscription; ``usage`` is
    :func:`billing_lib.investigation.story.usage_vs_billed`."""
    if usage.is_empty():
        return None
    fig = go.Figure()
    for sub in usage["subscription_id"].unique(maintain_order=True).to_list():
        part = usage.filter(pl.col("subscription_id") == sub)
        x = part["period"].to_list()
        name = plot_text(sub)
        fig.add_trace(go.Bar(name=f"{name} metered", x=x, y=part["metered"].cast(pl.Float64).to_list(),
                             marker_color=BAR_COLOR))
        fig.add_trace(go.Bar(name=f"{name} billed", x=x, y=part["billed"].cast(pl.Float64).to_list(),
                             marker_color=SEVERITY_COLORS["warning"]))
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")
    fig.update_yaxes(title_text="units", rangemode="tozero")
    return _base_layout(fig, "Metered usage against billed quantity", 380)


def running_balance(statement: pl.DataFrame) -> go.Figure | None:
    """The statement's running balance per currency over time; ``statement`` is
    :func:`billing_lib.investigation.story.statement`."""
    if statement.is_empty():
        return None
    fig = go.Figure()
    for i, cur in enumerate(statement["currency"].unique(maintain_order=True).to_list()):
        part = statement.filter(pl.col("currency") == cur)
        fig.add_trace(go.Scatter(
            name=plot_text(cur), x=[d.isoformat() for d in part["date"].to_list()],
            y=part["balance"].cast(pl.Float64).to_list(), mode="lines+markers", line_shape="hv",
            marker_color=COLORS[i % len(COLORS)],
            text=[plot_text(f"{d} {i_}")
                  for d, i_ in zip(part["document"].to_list(), part["document_id"].to_list(), strict=True)],
            hovertemplate="%{x}: %{y} after %{text}<extra></extra>"))
    fig.update_xaxes(type="date")
    fig.update_yaxes(title_text="balance owed", zeroline=True)
    return _base_layout(fig, "Running balance of the account", 360)
