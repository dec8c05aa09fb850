"""Plotly figures of the summary tables in :mod:`billing_lib.workbook.analysis`, with one consistent look.

Each function returns a figure, or None when there is nothing to plot (the
workbook then says so instead of showing an empty chart). Money is Decimal
up to here and becomes a float only for plotting. Labels that come from data
are HTML-escaped: plotly renders a few HTML tags inside text.
"""
from __future__ import annotations

import html

import plotly.graph_objects as go
import polars as pl

from billing_lib.core.money import to_text

SEVERITY_COLORS = {"error": "#c0392b", "warning": "#e67e22", "info": "#2980b9", "": "#7f8c8d"}
BAR_COLOR = "#34495e"
FONT = dict(family="Helvetica, Arial, sans-serif", size=13)


def plot_text(text: str) -> str:
    """Text from data made safe for a plotly label: plotly reads <, > and & as markup and decodes
    their entities, but shows &quot; literally, so quotes are left as they are."""
    return html.escape(text, quote=False)


def _layout(fig: go.Figure, title: str, x_title: str, rows: int) -> go.Figure:
    fig.update_layout(template="plotly_white", title=dict(text=plot_text(title)), font=FONT,
                      height=max(260, 120 + 28 * rows), margin=dict(l=10, r=30, t=60, b=40),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
                      bargap=0.25)
    fig.update_xaxes(title_text=plot_text(x_title), rangemode="tozero")
    fig.update_yaxes(autorange="reversed", automargin=True)
    return fig


def _floats(frame: pl.DataFrame, col: str) -> list[float]:
    """Decimal money as floats, for drawing only."""
    return frame[col].cast(pl.Float64).fill_null(0.0).to_list()


def _texts(frame: pl.DataFrame, col: str, currency: str) -> list[str]:
    return frame.select(to_text(pl.col(col), pl.lit(currency)).fill_null("")).to_series().to_list()


def findings_by_check(table: pl.DataFrame, base_currency: str) -> go.Figure | None:
    """Findings per check (bars coloured by severity), labelled with the money at stake.

    ``table`` is :func:`billing_lib.workbook.analysis.by_check`; checks without findings are left out.
    """
    hit = table.filter(pl.col("findings") > 0)
    if hit.is_empty():
        return None
    stake = _texts(hit, "at_stake_base", base_currency)
    fig = go.Figure()
    for severity in ("error", "warning", "info", ""):
        part_idx = [i for i, s in enumerate(hit["severity"].to_list()) if (s or "") == severity]
        if not part_idx:
            continue
        part = hit[part_idx]
        fig.add_trace(go.Bar(
            name=severity or "other", orientation="h", marker_color=SEVERITY_COLORS[severity],
            y=[plot_text(c) for c in part["check"].to_list()], x=part["findings"].to_list(),
            text=[f"{stake[i]} {base_currency}" for i in part_idx], textposition="auto",
            hovertemplate="%{y}: %{x} findings, %{text} at stake<extra></extra>"))
    return _layout(fig, "Findings by check", "findings", hit.height)


def top_customers(table: pl.DataFrame, base_currency: str) -> go.Figure | None:
    """Money at stake per customer (base currency), largest first; ``table`` is ``analysis.by_customer``."""
    if table.is_empty():
        return None
    labels = [plot_text(f"{cid} · {name}" if name else cid)
              for cid, name in zip(table["customer_id"].to_list(), table["customer_name"].to_list(), strict=True)]
    fig = go.Figure(go.Bar(
        orientation="h", marker_color=BAR_COLOR, y=labels, x=_floats(table, "at_stake_base"),
        text=[f"{n} findings" for n in table["findings"].to_list()], textposition="auto",
        customdata=_texts(table, "at_stake_base", base_currency),
        hovertemplate="%{y}: %{customdata} " + base_currency + " at stake (%{text})<extra></extra>"))
    return _layout(fig, f"Top customers by money at stake ({base_currency})", f"at stake ({base_currency})",
                   table.height)


def at_stake_by_currency(table: pl.DataFrame, base_currency: str) -> go.Figure | None:
    """Money at stake per currency, converted to the base currency; ``table`` is
    ``analysis.at_stake_by_currency``. Currencies without a rate are not drawn."""
    conv = table.filter(pl.col("at_stake_base").is_not_null())
    if conv.is_empty():
        return None
    fig = go.Figure(go.Bar(
        orientation="h", marker_color=BAR_COLOR, y=conv["currency"].to_list(), x=_floats(conv, "at_stake_base"),
        text=[f"{t} {base_currency}" for t in _texts(conv, "at_stake_base", base_currency)],
        textposition="auto", hovertemplate="%{y}: %{text}<extra></extra>"))
    return _layout(fig, f"Money at stake by currency, in {base_currency}", f"at stake ({base_currency})",
                   conv.height)


def invoices_by_period(table: pl.DataFrame) -> go.Figure | None:
    """Invoices per month (void ones apart), months verified in this run marked; ``table`` is
    ``analysis.periods_covered``."""
    if table.is_empty() or table["invoices"].sum() == 0:
        return None
    live = (table["invoices"] - table["void"]).to_list()
    months = table["period"].to_list()
    marks = ["verified" if v else "" for v in table["verified"].to_list()]
    fig = go.Figure([
        go.Bar(name="invoices", orientation="h", marker_color=BAR_COLOR, y=months, x=live, text=marks,
               textposition="auto", hovertemplate="%{y}: %{x} invoices %{text}<extra></extra>"),
        go.Bar(name="void", orientation="h", marker_color=SEVERITY_COLORS[""], y=months,
               x=table["void"].to_list(), hovertemplate="%{y}: %{x} void<extra></extra>"),
    ])
    fig.update_layout(barmode="stack")
    # months are categories: plotly would read YYYY-MM as dates and label only every other month
    fig.update_yaxes(type="category")
    return _layout(fig, "Invoices by month", "invoices", table.height)


BRIDGE_COLORS = {"increasing": "#27ae60", "decreasing": "#c0392b", "totals": BAR_COLOR}
AGING_LABELS = {"current": "current", "days_1_30": "1-30 days", "days_31_60": "31-60 days",
                "days_61_90": "61-90 days", "over_90": "over 90 days", "doubtful": "doubtful"}
AGING_COLORS = ("#27ae60", "#f1c40f", "#e67e22", "#d35400", "#c0392b", "#7f8c8d")


def revenue_bridge(steps: pl.DataFrame, base_currency: str) -> go.Figure | None:
    """Waterfall from last month's billed revenue to this month's: previous, new, churned, price, volume,
    proration, this month. ``steps`` is :func:`billing_lib.month_end.report.bridge_steps` (first and last
    rows are the totals)."""
    if steps.is_empty():
        return None
    n = steps.height
    texts = [f"{t} {base_currency}" for t in _texts(steps, "amount", base_currency)]
    fig = go.Figure(go.Waterfall(
        orientation="v", measure=["absolute", *["relative"] * (n - 2), "total"],
        x=[plot_text(s) for s in steps["step"].to_list()], y=_floats(steps, "amount"), text=texts,
        textposition="outside", connector=dict(line=dict(color="#95a5a6")),
        increasing=dict(marker=dict(color=BRIDGE_COLORS["increasing"])),
        decreasing=dict(marker=dict(color=BRIDGE_COLORS["decreasing"])),
        totals=dict(marker=dict(color=BRIDGE_COLORS["totals"])),
        hovertemplate="%{x}: %{text}<extra></extra>"))
    fig.update_layout(template="plotly_white", title=dict(text=plot_text(f"Revenue bridge ({base_currency})")),
                      font=FONT, height=420, margin=dict(l=10, r=30, t=60, b=40), showlegend=False)
    fig.update_yaxes(title_text=plot_text(f"billed revenue ({base_currency})"), automargin=True)
    fig.update_xaxes(type="category")
    return fig


def aging_buckets(aging_base: pl.DataFrame, base_currency: str) -> go.Figure | None:
    """Open receivables by age (current to over 90 days, then doubtful) in the base currency; ``aging_base`` is
    :func:`billing_lib.month_end.report.aging_in_base` (one row, one column per bucket)."""
    if aging_base.is_empty():
        return None
    buckets = list(AGING_LABELS)
    row = aging_base.select(buckets)
    values = [float(v or 0) for v in row.row(0)]
    if not any(values):
        return None
    texts = [f"{t} {base_currency}" for t in
             row.select(to_text(pl.col(b), pl.lit(base_currency)).fill_null("") for b in buckets).row(0)]
    fig = go.Figure(go.Bar(x=list(AGING_LABELS.values()), y=values, marker_color=list(AGING_COLORS), text=texts,
                           textposition="auto", hovertemplate="%{x}: %{text}<extra></extra>"))
    fig.update_layout(template="plotly_white", title=dict(text=plot_text(f"Receivables by age ({base_currency})")),
                      font=FONT, height=380, margin=dict(l=10, r=30, t=60, b=40), showlegend=False)
    fig.update_yaxes(title_text=plot_text(f"open balance ({base_currency})"), automargin=True)
    fig.update_xaxes(type="category")
    return fig


# ------------------------------------------------------------------------------------------------
# pre-billing review (billing_lib.invoicing.prebilling)

REVIEW_COLORS = {"flagged": "#e67e22", "not flagged": "#95a5a6"}
SWING_COLORS = {"up": "#27ae60", "down": "#c0392b"}


def customers_by_status(summary: pl.DataFrame) -> go.Figure | None:
    """Customers per status against last month (new, churned, changed, unchanged), flagged ones apart;
    ``summary`` is :func:`billing_lib.invoicing.prebilling.change_summary`."""
    if summary.is_empty():
        return None
    statuses = summary["status"].to_list()
    flagged = summary["flagged"].to_list()
    rest = [c - f for c, f in zip(summary["customers"].to_list(), flagged, strict=True)]
    fig = go.Figure([
        go.Bar(name="flagged", orientation="h", marker_color=REVIEW_COLORS["flagged"], y=statuses, x=flagged,
               hovertemplate="%{y}: %{x} flagged<extra></extra>"),
        go.Bar(name="not flagged", orientation="h", marker_color=REVIEW_COLORS["not flagged"], y=statuses, x=rest,
               hovertemplate="%{y}: %{x} not flagged<extra></extra>"),
    ])
    fig.update_layout(barmode="stack")
    return _layout(fig, "Customers against last month", "customers", summary.height)


def largest_swings(changes: pl.DataFrame, top: int = 15) -> go.Figure | None:
    """The customers whose drafts changed most against last month, in % (labelled with the cause);
    ``changes`` is :func:`billing_lib.invoicing.prebilling.customer_changes` (new and churned have no %)."""
    moved = (changes.filter(pl.col("change_pct").is_not_null() & (pl.col("change") != 0))
             .sort(pl.col("change_pct").abs(), "customer_id", descending=[True, False]).head(top))
    if moved.is_empty():
        return None
    pct = moved["change_pct"].cast(pl.Float64).to_list()
    labels = [plot_text(f"{cid} · {name} ({cur})" if name else f"{cid} ({cur})") for cid, name, cur in
              zip(moved["customer_id"].to_list(), moved["name"].to_list(), moved["currency"].to_list(), strict=True)]
    fig = go.Figure(go.Bar(
        orientation="h", y=labels, x=pct, marker_color=[SWING_COLORS["up" if p >= 0 else "down"] for p in pct],
        text=[plot_text(c or "") for c in moved["cause"].to_list()], textposition="auto",
        hovertemplate="%{y}: %{x:.1f}% (%{text})<extra></extra>"))
    fig = _layout(fig, "Largest changes against last month", "change (% of last month)", moved.height)
    fig.update_xaxes(rangemode="normal", zeroline=True)
    return fig


def product_shares(totals: pl.DataFrame) -> go.Figure | None:
    """Each product's share of the drafts' total in each currency (currencies side by side, comparable
    in %); ``totals`` is :func:`billing_lib.invoicing.prebilling.totals_by_product`."""
    if totals.is_empty():
        return None
    sums = totals.group_by("currency").agg(pl.col("total").sum().alias("currency_total"))
    shares = (totals.join(sums, on="currency")
              .with_columns(share=pl.when(pl.col("currency_total") != 0)
                            .then(pl.col("total").cast(pl.Float64) * 100 / pl.col("currency_total").cast(pl.Float64))
                            .otherwise(0.0))
              .sort("product", "currency"))
    currencies = sorted(set(shares["currency"].to_list()))
    fig = go.Figure()
    for product, part in shares.group_by("product", maintain_order=True):
        fig.add_trace(go.Bar(
            name=plot_text(str(product[0])), orientation="h", y=part["currency"].to_list(), x=part["share"].to_list(),
            text=[f"{t} {c}" for t, c in zip(_money_texts(part), part["currency"].to_list(), strict=True)],
            textposition="inside",
            hovertemplate="%{y}: %{x:.1f}% (%{text})<extra>" + plot_text(str(product[0])) + "</extra>"))
    fig.update_layout(barmode="stack", uniformtext=dict(minsize=9, mode="hide"))  # no label on a sliver
    fig = _layout(fig, "Drafts by product, share of each currency's total", "% of the currency's total",
                  len(currencies))
    products = shares["product"].n_unique()
    # many products: the legend goes under the chart, where it can take several rows without covering the title
    fig.update_layout(height=max(340, 220 + 40 * len(currencies) + 22 * (products // 3)),
                      legend=dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0.0))
    fig.update_layout(margin=dict(l=10, r=30, t=60, b=60 + 22 * (products // 3)))
    return fig


def _money_texts(frame: pl.DataFrame) -> list[str]:
    return frame.select(to_text(pl.col("total"), pl.col("currency")).fill_null("")).to_series().to_list()
