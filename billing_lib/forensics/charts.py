"""Plotly figures of the forensic tests, in the look of :mod:`billing_lib.reports.charts`.

Each returns a figure, or None when there is nothing to draw. Shares are floats (they are statistics, not
money); labels from data are escaped for plotly.
"""
from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from billing_lib.forensics import digits as dg
from billing_lib.reports.charts import BAR_COLOR, FONT, SEVERITY_COLORS, plot_text

EXPECTED_COLOR = "#e67e22"


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str, height: int = 380) -> go.Figure:
    fig.update_layout(template="plotly_white", title=dict(text=plot_text(title)), font=FONT, height=height,
                      margin=dict(l=10, r=30, t=60, b=40), bargap=0.15,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0))
    fig.update_xaxes(title_text=plot_text(x_title), type="category")
    fig.update_yaxes(title_text=plot_text(y_title), automargin=True, rangemode="tozero")
    return fig


def digit_test(benford: pl.DataFrame, summary: pl.DataFrame, test: str) -> go.Figure | None:
    """Found against expected share of each digit of ``test``, the significant spikes named above their bar."""
    table = benford.filter(pl.col("test") == test).sort("digits")
    row = summary.filter(pl.col("test") == test).row(0, named=True)
    if table.is_empty() or not row["n"]:
        return None
    labels = [dg.digits_label(test, d) for d in table["digits"].to_list()]
    found = [f * 100 for f in table["found"].to_list()]
    spikes = set(dg.spikes(table, test)["digits"].to_list())
    colors = [SEVERITY_COLORS["error"] if d in spikes else BAR_COLOR for d in table["digits"].to_list()]
    fig = go.Figure([
        go.Bar(name="found (red: a significant spike)", x=labels, y=found, marker_color=colors,
               customdata=table.select("count", "z_score").rows(),
               hovertemplate="%{x}: %{y:.2f}% found (%{customdata[0]} amounts, Z %{customdata[1]:.2f})"
                             "<extra></extra>"),
        go.Scatter(name="expected (Benford)" if test != "last_two" else "expected (uniform)", x=labels,
                   y=[e * 100 for e in table["expected"].to_list()], mode="lines+markers",
                   line=dict(color=EXPECTED_COLOR), marker=dict(size=4),
                   hovertemplate="%{x}: %{y:.2f}% expected<extra></extra>"),
    ])
    for digit in sorted(spikes):
        i = table["digits"].to_list().index(digit)
        # a number places an annotation by category index: a label such as "64" would be read as index 64
        fig.add_annotation(x=i, y=found[i], text=plot_text(labels[i]), showarrow=True, arrowhead=0,
                           ay=-24, font=dict(color=SEVERITY_COLORS["error"]))
    title = (f"{dg.TEST_NAMES[test].capitalize()} test: {row['conformity']} (MAD {row['mad']:.4f}, "
             f"{row['n']:,} amounts)")
    return _layout(fig, title, dg.TEST_NAMES[test], "share of the amounts (%)", 340 if test != "first" else 320)


def strata(table: pl.DataFrame) -> go.Figure | None:
    """Share of each currency's money per value band (bands with money only)."""
    shown = table.filter(pl.col("count") > 0)
    if shown.is_empty():
        return None
    fig = go.Figure()
    for (currency,), part in shown.group_by("currency", maintain_order=True):
        fig.add_trace(go.Bar(
            name=plot_text(currency or "no currency"), x=[plot_text(x) for x in part["label"].to_list()],
            y=part["amount_share"].cast(pl.Float64).to_list(), customdata=part["count"].to_list(),
            hovertemplate="%{x}: %{y:.2f}% of the money (%{customdata} amounts)<extra>"
                          + plot_text(currency or "") + "</extra>"))
    fig.update_layout(barmode="group")
    return _layout(fig, "Money by value band, share of each currency", "value band", "% of the currency's money")
