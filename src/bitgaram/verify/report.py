"""M&V report: PNG figures and a printable HTML page (the file-writing edge of verify).

:func:`write_verification_report` takes results already computed by the pure
core (baseline fits, savings, anomalies) and writes one HTML file with PNG
figures beside it: baseline fit over the baseline period, the G14 metrics
table, and the cumulative avoided-energy curve with its uncertainty band.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from bitgaram.verify.anomalies import anomalies_frame
from bitgaram.verify.pipeline import MeterResult
from bitgaram.verify.savings import Savings


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def plot_baseline_fit(result: MeterResult, path: Path) -> Path:
    """PNG of observed vs fitted energy over the baseline period."""
    fit = result.selection.chosen
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(fit.observed.index, fit.observed.to_numpy(), lw=0.8, label="metered")
    ax.plot(fit.fitted.index, fit.fitted.to_numpy(), lw=0.8, label="baseline model")
    verdict = "accepted" if fit.accepted else "REJECTED"
    ax.set_title(
        f"{result.meter}: {fit.model.interval} baseline, CV(RMSE) {fit.metrics.cv_rmse:.1%}, "
        f"NMBE {fit.metrics.nmbe:+.1%} ({verdict})",
        fontsize=9,
    )
    ax.set_ylabel(f"kWh per {'hour' if fit.model.interval == 'hourly' else 'day'}")
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_cumulative_savings(result: MeterResult, path: Path) -> Path:
    """PNG of cumulative avoided energy with the final uncertainty band."""
    assert result.savings is not None
    s = result.savings
    cum = s.series["cumulative_avoided_kwh"]
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(cum.index, cum.to_numpy(), lw=1.2, label="cumulative avoided energy")
    # G14 half-width after k of m intervals: U * sqrt(m / k) * B_k / B (B = adjusted baseline).
    k = np.arange(1, len(cum) + 1)
    b_k = s.series["baseline_kwh"].cumsum().to_numpy()
    half = s.uncertainty_kwh * np.sqrt(len(cum) / k) * b_k / max(abs(s.baseline_kwh), 1e-12)
    ax.fill_between(
        cum.index,
        cum.to_numpy() - half,
        cum.to_numpy() + half,
        alpha=0.25,
        label=f"{s.confidence:.0%} interval (G14)",
    )
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.set_title(
        f"{result.meter}: avoided {s.avoided_kwh:,.0f} +/- {s.uncertainty_kwh:,.0f} kWh",
        fontsize=9,
    )
    ax.set_ylabel("kWh")
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _metrics_rows(result: MeterResult) -> str:
    rows = []
    for fit in result.selection.tried:
        m = fit.metrics
        chosen = " (used)" if fit is result.selection.chosen else ""
        mm = fit.monthly_metrics
        monthly = f"{mm.cv_rmse:.1%} / {mm.nmbe:+.2%}" if mm else "fewer than 6 months"
        rows.append(
            "<tr>"
            f"<td>{html.escape(fit.model.describe())}{chosen}</td>"
            f"<td>{m.n}</td><td>{m.p}</td><td>{m.cv_rmse:.1%}</td><td>{m.nmbe:+.2%}</td>"
            f"<td>{m.r2:.3f}</td><td>{m.rho:.2f}</td>"
            f"<td>{html.escape(fit.acceptance.summary())}</td><td>{monthly}</td></tr>"
        )
    held = result.held_out
    if held is not None:
        rows.append(
            "<tr><td>used model, held out (5-fold, contiguous days)</td>"
            f"<td>{held.n}</td><td>{held.p}</td><td>{held.cv_rmse:.1%}</td>"
            f"<td>{held.nmbe:+.2%}</td><td>{held.r2:.3f}</td><td>{held.rho:.2f}</td>"
            "<td>out of sample: not a G14 test</td><td></td></tr>"
        )
    return "\n".join(rows)


_CSS = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;font-size:11pt}"
    "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #999;padding:2px 6px;"
    "font-size:9pt}img{max-width:100%}h2{page-break-before:auto}.bad{color:#b00}"
)


def write_verification_report(
    results: Sequence[MeterResult],
    tenant_savings: Mapping[str, Savings],
    out_dir: str | Path,
    title: str = "Measurement and verification report",
    currency: str = "KRW",
) -> Path:
    """Write ``report.html`` and its PNG figures into ``out_dir``.

    Parameters
    ----------
    results : sequence of MeterResult
        Per-meter results.
    tenant_savings : mapping of str to Savings
        Combined savings per tenant.
    out_dir : str or pathlib.Path
        Folder to write into (created if absent).
    title : str
        Heading of the report.
    currency : str
        Currency of the anomaly costs.

    Returns
    -------
    pathlib.Path
        The HTML file.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        "<p>Baselines are accepted only if ASHRAE Guideline 14 holds (hourly/daily data: "
        "CV(RMSE) &le; 30 % and |NMBE| &le; 10 %; monthly: 15 % / 5 %). Savings uncertainty: "
        "G14 fractional savings uncertainty t&middot;1.26&middot;CV&middot;"
        "&radic;((n/n')(1+2/n')/m) with n' = n(1&minus;&rho;)/(1+&rho;) for autocorrelated "
        "residuals; tenant totals add meter uncertainties in quadrature.</p>",
        "<h2>Savings per tenant</h2><table><tr><th>tenant</th><th>baseline kWh</th>"
        "<th>metered kWh</th><th>avoided kWh</th><th>&plusmn; kWh</th><th>confidence</th>"
        "<th>saving</th></tr>",
    ]
    for name, s in tenant_savings.items():
        parts.append(
            f"<tr><td>{html.escape(name)}</td><td>{s.baseline_kwh:,.0f}</td>"
            f"<td>{s.reporting_kwh:,.0f}</td><td>{s.avoided_kwh:,.0f}</td>"
            f"<td>{s.uncertainty_kwh:,.0f}</td><td>{s.confidence:.0%}</td>"
            f"<td>{s.savings_fraction:.1%}</td></tr>"
        )
    parts.append("</table>")
    for r in results:
        stem = _safe(r.meter)
        parts.append(f"<h2>{html.escape(r.meter)} (tenant {html.escape(r.tenant)})</h2>")
        parts.append(
            "<table><tr><th>model</th><th>n</th><th>p</th><th>CV(RMSE)</th><th>NMBE</th>"
            "<th>R&sup2;</th><th>&rho;</th><th>Guideline 14</th>"
            "<th>monthly totals CV(RMSE) / NMBE (limits 15 % / 5 %)</th></tr>"
            f"{_metrics_rows(r)}</table>"
        )
        parts.append("<p>" + "<br>".join(html.escape(c.describe()) for c in r.periods) + "</p>")
        parts.extend(f"<p class='bad'>{html.escape(note)}</p>" for note in r.warnings)
        fit_png = plot_baseline_fit(r, out / f"{stem}_baseline.png")
        parts.append(f"<img src='{fit_png.name}' alt='baseline fit'>")
        if r.savings is None:
            parts.append(
                "<p class='bad'>No baseline meets Guideline 14: savings are not reported "
                "for this meter.</p>"
            )
        else:
            s = r.savings
            note = "" if s.baseline_accepted else " <b class='bad'>(baseline REJECTED)</b>"
            parts.append(
                f"<p>Avoided energy {s.avoided_kwh:,.0f} &plusmn; {s.uncertainty_kwh:,.0f} kWh "
                f"at {s.confidence:.0%} confidence ({s.savings_fraction:.1%} of the adjusted "
                f"baseline {s.baseline_kwh:,.0f} kWh; t = {s.t_value:.2f}, "
                f"n' = {s.n_effective:.0f}){note}.</p>"
            )
            png = plot_cumulative_savings(r, out / f"{stem}_savings.png")
            parts.append(f"<img src='{png.name}' alt='cumulative savings'>")
        if r.anomalies:
            table = anomalies_frame(r.anomalies[:10])
            table = table.rename(columns={"cost": f"cost [{currency}]"})
            parts.append("<h3>Anomalies (top 10 by cost)</h3>")
            parts.append(table.to_html(index=False, float_format=lambda v: f"{v:,.2f}"))
    parts.append("</body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
