// The bitgaram dashboard: reads the JSON API with the session cookie and draws charts with uPlot.
(function () {
  "use strict";
  const t = window.Bitgaram.i18n.t;
  const COLORS = { net: "#10243e", load: "#0b6bcb", pv: "#e0a100", battery: "#2e9e5b", forecast: "#c2410c", soc: "#2e9e5b" };
  const PALETTE = ["#0b6bcb", "#2e9e5b", "#c2410c", "#7c3aed", "#10243e", "#e0a100"];
  const state = { me: null, site: null, tenants: [], charts: [] };

  async function api(path) {
    const res = await fetch("/api/v1" + path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (res.status === 401) { window.location.assign("/login"); throw new Error("not signed in"); }
    const body = await res.json();
    if (!res.ok) { const err = new Error(body.message || res.statusText); err.status = res.status; throw err; }
    return body;
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    });
    (children || []).forEach((c) => node.appendChild(c));
    return node;
  }

  function fmt(value, digits, unit) {
    if (value === null || value === undefined) return "–";
    const locale = window.Bitgaram.i18n.lang() === "ko" ? "ko-KR" : "en-GB";
    return value.toLocaleString(locale, { maximumFractionDigits: digits }) + (unit ? " " + unit : "");
  }

  function card(label, value, hint, over) {
    return el("div", { class: "card" }, [
      el("div", { class: "label", text: label }),
      el("div", { class: "value" + (over ? " over" : ""), text: value }),
      el("div", { class: "hint", text: hint || "" }),
    ]);
  }

  function panel(title, body) {
    return el("section", { class: "panel" }, [el("h2", { text: title }), body]);
  }

  function lineChart(container, chart, names) {
    const picked = chart.series.filter((s) => names.includes(s.name));
    const points = picked.reduce((n, s) => n + s.values.filter((v) => v !== null).length, 0);
    container.setAttribute("data-points", String(points));
    if (!picked.length || points === 0) { container.textContent = t("msg.nodata"); return; }
    const tz = state.site ? state.site.timezone : "UTC";
    const xs = chart.ts.map((s) => Date.parse(s) / 1000);
    const opts = {
      width: Math.max(300, container.clientWidth || 800),
      height: 260,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), tz),
      series: [{}].concat(picked.map((s, i) => ({
        label: s.label || t("series." + s.name), stroke: COLORS[s.name] || PALETTE[i % PALETTE.length], width: 1.5,
        dash: s.name === "forecast" ? [6, 4] : undefined, spanGaps: !!s.stepped,
        paths: s.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined,
      }))),
      axes: [{}, { size: 60 }],
    };
    const plot = new uPlot(opts, [xs].concat(picked.map((s) => s.values)), container);
    state.charts.push(plot);
  }

  function bars(rows) {
    const box = el("div", { class: "bars" });
    rows.forEach((r) => {
      const track = el("div", { class: "track" }, [el("div", { class: "fill", style: "width:" + Math.max(0, Math.min(100, r.pct)) + "%" })]);
      box.appendChild(el("div", { class: "row" }, [el("span", { text: r.label }), r.note ? el("span", { class: "note", text: r.note }) : track, el("span", { class: "num", text: r.num })]));
    });
    return box;
  }

  async function alertsPanel(view) {
    const a = await api("/alerts?limit=20");
    const list = el("ul", { class: "alerts", id: "alerts" });
    if (!a.items.length) list.appendChild(el("li", { class: "muted", text: t("alerts.none") }));
    a.items.forEach((x) => {
      list.appendChild(el("li", { class: x.severity }, [
        el("strong", { text: t("alerts." + x.kind) + (x.meter_id ? " · " + x.meter_id : "") }),
        el("span", { class: "muted", text: " " + x.message }),
      ]));
    });
    view.appendChild(panel(t("alerts.title") + " (" + a.total + ")", list));
  }

  // The optimized schedule as executed (the control loop's setpoints), one stepped line per battery.
  async function schedulePanel(view, assets, id) {
    const batteries = assets.filter((a) => a.type === "battery");
    if (!batteries.length) return;
    const pages = await Promise.all(batteries.map((a) =>
      api("/assets/" + encodeURIComponent(a.id) + "/schedule?limit=10000")));
    const stamps = Array.from(new Set([].concat(...pages.map((p) => p.items.map((x) => x.valid_from))))).sort();
    const where = new Map(stamps.map((s, i) => [s, i]));
    const series = batteries.map((a, k) => {
      const values = stamps.map(() => null);
      pages[k].items.forEach((x) => { values[where.get(x.valid_from)] = x.power_kw; });
      return { name: a.id, label: a.id, unit: "kW", values: values, stepped: true };
    });
    const box = el("div", { class: "chart", id: id });
    view.appendChild(panel(t("schedule.title"), box));
    lineChart(box, { ts: stamps, series: series }, batteries.map((a) => a.id));
  }

  async function parkPage(view) {
    const o = await api("/park/overview?hours=48");
    const soc = o.latest_soc_percent;
    const pv = o.chart.series.find((s) => s.name === "pv");
    const pvNow = pv ? pv.values.filter((v) => v !== null).slice(-1)[0] : null;
    const over = o.demand_target_kw !== null && o.latest_demand_kw !== null && o.latest_demand_kw > o.demand_target_kw;
    view.appendChild(el("h1", { text: t("park.title") + " · " + state.site.name }));
    view.appendChild(el("div", { class: "cards" }, [
      card(t("park.demand"), fmt(o.latest_demand_kw, 0, "kW"), o.demand_target_kw !== null ? t("park.target") + " " + fmt(o.demand_target_kw, 0, "kW") : "", over),
      card(t("park.pv"), fmt(pvNow === undefined ? null : pvNow, 0, "kW"), ""),
      card(t("park.soc"), fmt(soc, 0, "%"), ""),
    ]));
    const power = el("div", { class: "chart", id: "chart-park-power" });
    view.appendChild(panel(t("park.power"), power));
    lineChart(power, o.chart, ["net", "load", "pv", "battery", "forecast"]);
    if (o.chart.series.some((s) => s.name === "soc")) {
      const socBox = el("div", { class: "chart", id: "chart-park-soc" });
      view.appendChild(panel(t("park.soc_chart"), socBox));
      lineChart(socBox, o.chart, ["soc"]);
    }
    const max = Math.max(1e-9, ...o.tenants.map((x) => x.energy_kwh));
    const tenantBars = bars(o.tenants.map((x) => ({ label: x.name, pct: 100 * x.energy_kwh / max, num: fmt(x.energy_kwh, 0) })));
    tenantBars.id = "chart-park-tenants";
    view.appendChild(panel(t("park.tenants"), tenantBars));
    await schedulePanel(view, (await api("/assets?limit=1000")).items, "chart-park-schedule");
    await alertsPanel(view);
  }

  async function tenantPage(view, tenantId) {
    const s = await api("/tenants/" + encodeURIComponent(tenantId) + "/summary?days=7");
    view.appendChild(el("h1", { text: s.name }));
    view.appendChild(el("div", { class: "cards" }, [
      card(t("tenant.energy"), fmt(s.energy_kwh, 0, "kWh"), ""),
      card(t("tenant.peak"), fmt(s.peak_kw, 0, "kW"), ""),
      card(t("tenant.pv"), fmt(s.pv_kwh, 0, "kWh"), ""),
      card(t("tenant.mape"), s.has_forecast ? fmt(s.forecast_mape_percent, 1, "%") : "–", ""),
    ]));
    const power = el("div", { class: "chart", id: "chart-tenant-power" });
    view.appendChild(panel(t("tenant.power"), power));
    lineChart(power, s.chart, ["load", "forecast", "pv", "net"]);
    const base = "/tenants/" + encodeURIComponent(tenantId);
    const extras = el("div", { class: "cards" });
    view.appendChild(extras);
    try {
      const bills = await api(base + "/bills?months=2");
      bills.items.forEach((b) => {
        extras.appendChild(card(t("tenant.bill") + " · " + b.month, fmt(b.total, 0, b.currency),
          fmt(b.energy_kwh, 0, "kWh") + " · " + fmt(b.billing_demand_kw, 0, "kW")));
      });
      extras.id = "tenant-bills";
    } catch (err) {
      if (err.status !== 404 && err.status !== 422) throw err;
    }
    try {
      const r = await api(base + "/re100");
      const pct = r.re_share === null ? null : 100 * r.re_share;
      const box = bars([{ label: t("re100.share") + " " + r.year, pct: pct === null ? 0 : pct, num: fmt(pct, 1, "%") }]);
      box.id = "chart-tenant-re100";
      const hint = t("re100.target") + " " + fmt(100 * r.target_share, 0, "%") + " · " + r.target_year +
        (r.required_pp_per_year === null ? "" : " · " + t("re100.pace") + " " + fmt(r.required_pp_per_year, 1, "%p"));
      box.appendChild(el("div", { class: "hint muted", text: hint }));
      view.appendChild(panel(t("tenant.re100"), box));
    } catch (err) {
      if (err.status !== 404) throw err;
    }
    try {
      const b = await api(base + "/benchmark");
      const rows = b.indicators.map((i) => ({
        label: t("ind." + i.name) + " (" + t("bench.better." + i.better) + ")",
        pct: i.percentile === null ? 0 : i.percentile,
        num: i.percentile === null ? "" : fmt(i.percentile, 0) + " %",
        note: i.percentile === null ? t("bench.hidden") + " (" + i.group_size + "/" + b.min_group_size + ")" : null,
      }));
      const box = bars(rows);
      box.id = "chart-tenant-benchmark";
      const title = t("tenant.benchmark") + " · " + t("bench.group." + b.group);
      view.appendChild(panel(title, box));
    } catch (err) {
      if (err.status !== 404) throw err;
    }
    const own = (await api("/assets?limit=1000")).items.filter((a) => a.tenant === tenantId);
    await schedulePanel(view, own, "chart-tenant-schedule");
    await alertsPanel(view);
  }

  function nav() {
    const box = document.getElementById("nav");
    box.textContent = "";
    const here = window.location.hash || "#/";
    if (state.me.tenant_id === null) {
      box.appendChild(el("a", { href: "#/", class: here === "#/" ? "active" : "", text: t("nav.park") }));
    }
    state.tenants.forEach((x) => {
      const href = "#/tenant/" + encodeURIComponent(x.id);
      box.appendChild(el("a", { href: href, class: here === href ? "active" : "", text: x.name }));
    });
  }

  async function render() {
    state.charts.forEach((c) => c.destroy());
    state.charts = [];
    nav();
    const view = document.getElementById("view");
    view.textContent = "";
    const match = (window.location.hash || "").match(/^#\/tenant\/(.+)$/);
    try {
      if (match) await tenantPage(view, decodeURIComponent(match[1]));
      else if (state.me.tenant_id === null) await parkPage(view);
      else await tenantPage(view, state.me.tenant_id);
      view.setAttribute("data-ready", "1");
    } catch (err) {
      view.appendChild(el("p", { class: "error", text: err.status === 404 ? t("msg.nodata") : String(err.message) }));
      view.setAttribute("data-ready", "error");
    }
  }

  async function main() {
    window.Bitgaram.i18n.apply();
    state.me = await api("/auth/me");
    document.getElementById("who").textContent = state.me.user + " (" + state.me.role + ")";
    state.site = (await api("/sites")).items[0];
    state.tenants = (await api("/tenants?limit=1000")).items;
    document.getElementById("logout").onclick = async function () {
      await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin" });
      window.location.assign("/login");
    };
    window.addEventListener("hashchange", render);
    window.addEventListener("bitgaram:lang", render);
    await render();
  }

  main();
})();
