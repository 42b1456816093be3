// The bitgaram dashboard: reads the JSON API with the session cookie and draws charts with uPlot.
//
// The URL hash holds the view, the site and the period (#/tenant/acme?site=s&p=month&d=2026-06-01),
// so a view can be shared. Every figure comes from the API; the page only sums API rows into
// buckets (hours, local days, local months) for the bars and exports exactly what it draws.
(function () {
  "use strict";
  const I = window.Bitgaram.i18n;
  const t = I.t;
  const COLORS = { net: "#10243e", load: "#0b6bcb", pv: "#b07d00", battery: "#2e7d4f", forecast: "#c2410c", soc: "#2e7d4f" };
  const PALETTE = ["#0b6bcb", "#2e7d4f", "#c2410c", "#7c3aed", "#10243e", "#b07d00"];
  const FONT = '12px system-ui, -apple-system, "Segoe UI", "Noto Sans KR", "Noto Sans CJK KR", "Apple SD Gothic Neo", "Malgun Gothic", sans-serif';
  const KINDS = ["load", "pv", "battery", "grid_net", "grid_import", "grid_export"];
  const PERIODS = ["day", "week", "month", "year", "custom"];
  const MAX_BAND_METERS = 20;  // the P10-P90 band sums per-meter quantiles: only for a few meters
  const TABLE_ROWS = 50;
  const TOP_N = 10;
  const state = { me: null, sites: [], site: null, meters: [], tenants: [], charts: [], exports: {}, gen: 0, paths: null, shown: TABLE_ROWS };

  class Cancelled extends Error {}

  // ---- API ---------------------------------------------------------------------------------
  function withSite(path) {
    if (!state.site || path.startsWith("/auth/") || path === "/sites" || path.startsWith("/sites?")) return path;
    return path + (path.includes("?") ? "&" : "?") + "site_id=" + encodeURIComponent(state.site.id);
  }

  async function api(path) {
    const res = await fetch("/api/v1" + withSite(path), { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (res.status === 401) { window.location.assign("/login"); throw new Cancelled("not signed in"); }
    const body = await res.json();
    if (!res.ok) { const err = new Error(body.message || res.statusText); err.status = res.status; throw err; }
    return body;
  }

  // Every request of one render goes through its own `q`: once another render started
  // (a second click), the older one stops at its next answer and draws nothing more.
  function requester(gen) {
    return async function q(path) {
      const body = await api(path);
      if (gen !== state.gen) throw new Cancelled("superseded");
      return body;
    };
  }

  // A request started now and awaited later: marked handled at once, so a render that is
  // superseded meanwhile leaves no unhandled rejection behind.
  function early(promise) { promise.catch(() => {}); return promise; }

  async function hasPath(path) {
    if (state.paths === null) {
      try {
        const res = await fetch("/openapi.json", { credentials: "same-origin" });
        // path parameters compared by position only: /tenants/{tenant_id}/x == /tenants/{}/x
        state.paths = res.ok ? Object.keys((await res.json()).paths || {}).map((x) => x.replace(/\{[^}]*\}/g, "{}")) : [];
      } catch (err) { state.paths = []; }
    }
    return state.paths.includes("/api/v1" + path);
  }

  // ---- DOM helpers -------------------------------------------------------------------------
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (v === undefined || v === null) return;
      if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    });
    (children || []).forEach((c) => { if (c) node.appendChild(c); });
    return node;
  }

  function fmt(value, digits, unit) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    return value.toLocaleString(I.locale(), { maximumFractionDigits: digits }) + (unit ? " " + unit : "");
  }

  function energy(kwh) {
    if (kwh === null || kwh === undefined) return "–";
    return Math.abs(kwh) >= 1e5 ? fmt(kwh / 1000, 1, "MWh") : fmt(kwh, 0, "kWh");
  }

  function money(value, currency) {
    if (value === null || value === undefined) return "–";
    try {
      return value.toLocaleString(I.locale(), { style: "currency", currency: currency || "KRW", maximumFractionDigits: 0 });
    } catch (err) { return fmt(value, 0, currency); }
  }

  function tz() { return state.site ? state.site.timezone : "UTC"; }

  function dateFmt(opts) { return new Intl.DateTimeFormat(I.locale(), Object.assign({ timeZone: tz() }, opts)); }

  function when(iso) {
    if (!iso) return "–";
    return dateFmt({ dateStyle: "medium", timeStyle: "short", hourCycle: "h23" }).format(new Date(iso));
  }

  function card(id, label, value, hint, over, raw) {
    return el("div", { class: "card", id: id, "data-value": raw === undefined || raw === null ? undefined : String(raw) }, [
      el("div", { class: "label", text: label }),
      el("div", { class: "value" + (over ? " over" : ""), text: value }),
      el("div", { class: "hint", text: hint || "" }),
    ]);
  }

  function slug(s) { return s.replace(/[^a-z0-9]+/gi, "-"); }

  // A panel with a title and, for charts and tables, CSV / JSON buttons exporting `exp()`.
  function panel(title, body, exportId) {
    const head = el("div", { class: "panel-head" }, [el("h2", { text: title })]);
    if (exportId) {
      const tools = el("div", { class: "tools" });
      ["csv", "json"].forEach((format) => {
        const b = el("button", { type: "button", class: "export", "data-export": exportId, "data-format": format,
          "aria-label": t("chart.export_label", { title: title, format: format.toUpperCase() }), text: t("chart.export_" + format) });
        b.onclick = () => download(exportId, format);
        tools.appendChild(b);
      });
      head.appendChild(tools);
    }
    return el("section", { class: "panel", id: exportId ? "panel-" + exportId : undefined }, [head, body]);
  }

  // ---- export ------------------------------------------------------------------------------
  function register(id, columns, rows) { state.exports[id] = { columns: columns, rows: rows }; }

  function csvCell(v) {
    if (v === null || v === undefined) return "";
    const s = String(v);
    return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  function exportText(id, format) {
    const e = state.exports[id];
    if (!e) return "";
    if (format === "json") {
      return JSON.stringify(e.rows.map((r) => Object.fromEntries(e.columns.map((c, i) => [c, r[i]]))), null, 1);
    }
    return [e.columns.join(",")].concat(e.rows.map((r) => r.map(csvCell).join(","))).join("\n") + "\n";
  }

  function download(id, format) {
    const blob = new Blob([exportText(id, format)], { type: format === "json" ? "application/json" : "text/csv" });
    const a = el("a", { href: URL.createObjectURL(blob), download: "bitgaram-" + id + "-" + periodTag() + "." + format });
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  // ---- time zones and periods --------------------------------------------------------------
  function offsetMs(ms) {
    const parts = {};
    dateFmt({ hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" })
      .formatToParts(new Date(ms)).forEach((p) => { parts[p.type] = p.value; });
    const wall = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour % 24, +parts.minute, +parts.second);
    return wall - ms;
  }

  // UTC epoch [ms] of local midnight of a calendar date {y, m (1-12), d} in the site's zone.
  function localMidnight(y, m, d) {
    const guess = Date.UTC(y, m - 1, d);
    let ms = guess - offsetMs(guess);
    ms = guess - offsetMs(ms);
    return ms;
  }

  function ymd(date) { return { y: date.getUTCFullYear(), m: date.getUTCMonth() + 1, d: date.getUTCDate() }; }
  function parseDate(s) { const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || ""); return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])) : null; }
  function iso(date) { return date.toISOString().slice(0, 10); }
  function addDays(date, n) { return new Date(date.getTime() + n * 86400000); }
  function addMonths(date, n) { return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + n, 1)); }

  // The local calendar date of an instant in the site's zone (as a UTC-midnight Date).
  function localDate(ms) {
    const p = {};
    dateFmt({ year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(new Date(ms)).forEach((x) => { p[x.type] = x.value; });
    return new Date(Date.UTC(+p.year, +p.month - 1, +p.day));
  }

  function route() {
    const hash = window.location.hash || "#/";
    const [path, query] = hash.slice(1).split("?");
    const params = new URLSearchParams(query || "");
    const m = path.match(/^\/tenant\/(.+)$/);
    const view = m ? "tenant" : path === "/tenants" ? "tenants" : path === "/dr" ? "dr" : "park";
    return { view: view, tenant: m ? decodeURIComponent(m[1]) : null, params: params };
  }

  function go(changes, view) {
    const r = route();
    const params = r.params;
    Object.entries(changes || {}).forEach(([k, v]) => { if (v === null) params.delete(k); else params.set(k, v); });
    if (state.site) params.set("site", state.site.id);
    const path = view !== undefined ? view : (r.view === "tenant" ? "/tenant/" + encodeURIComponent(r.tenant)
      : r.view === "tenants" ? "/tenants" : r.view === "dr" ? "/dr" : "/");
    window.location.hash = "#" + path + "?" + params.toString();
  }

  // The period in the URL: kind, local start date, exclusive local end date.
  function period(latest) {
    const p = route().params;
    const kind = PERIODS.includes(p.get("p")) ? p.get("p") : "week";
    let first = parseDate(p.get("d")) || latest;
    let end;
    if (kind === "custom") {
      first = parseDate(p.get("from")) || addDays(latest, -6);
      const last = parseDate(p.get("to")) || latest;
      end = addDays(last < first ? first : last, 1);
    } else if (kind === "day") {
      end = addDays(first, 1);
    } else if (kind === "week") {
      if (!p.get("d")) first = addDays(latest, -6);
      end = addDays(first, 7);
    } else if (kind === "month") {
      first = new Date(Date.UTC(first.getUTCFullYear(), first.getUTCMonth(), 1));
      end = addMonths(first, 1);
    } else {
      first = new Date(Date.UTC(first.getUTCFullYear(), 0, 1));
      end = new Date(Date.UTC(first.getUTCFullYear() + 1, 0, 1));
    }
    const a = ymd(first), b = ymd(end);
    const days = Math.round((end - first) / 86400000);
    return {
      kind: kind, first: first, end: end, days: days,
      startMs: localMidnight(a.y, a.m, a.d), endMs: localMidnight(b.y, b.m, b.d),
      bucket: days <= 2 ? "hour" : days <= 62 ? "day" : "month",
    };
  }

  function shift(per, dir) {
    if (per.kind === "month") return { d: iso(addMonths(per.first, dir)) };
    if (per.kind === "year") return { d: (per.first.getUTCFullYear() + dir) + "-01-01" };
    const n = per.days * dir;
    if (per.kind === "custom") return { from: iso(addDays(per.first, n)), to: iso(addDays(per.end, n - 1)) };
    return { d: iso(addDays(per.first, n)) };
  }

  function periodLabel(per) {
    if (per.kind === "month") return new Intl.DateTimeFormat(I.locale(), { year: "numeric", month: "long", timeZone: "UTC" }).format(per.first);
    if (per.kind === "year") return new Intl.DateTimeFormat(I.locale(), { year: "numeric", timeZone: "UTC" }).format(per.first);
    const f = new Intl.DateTimeFormat(I.locale(), { dateStyle: "medium", timeZone: "UTC" });
    if (per.days === 1) return f.format(per.first);
    return f.formatRange ? f.formatRange(per.first, addDays(per.end, -1)) : f.format(per.first) + " – " + f.format(addDays(per.end, -1));
  }

  let currentPeriod = null;
  function periodTag() { return currentPeriod ? iso(currentPeriod.first) + "_" + iso(addDays(currentPeriod.end, -1)) : "period"; }

  function nativeStep(meters) {
    const unit = { s: 1 / 60, S: 1 / 60, min: 1, T: 1, h: 60, H: 60, D: 1440, d: 1440 };
    const mins = meters.map((m) => { const x = /^(\d*)\s*(s|S|min|T|h|H|D|d)$/.exec(m.resolution); return x ? (+x[1] || 1) * unit[x[2]] : 15; });
    return Math.max(15, ...mins);
  }

  function stepFor(per, meters) {
    const native = nativeStep(meters);
    const want = per.days <= 2 ? 15 : 60;
    const mins = Math.max(want, native);
    return mins <= 15 ? "15min" : mins <= 60 ? "1h" : "1D";
  }

  function periodQuery(per) {
    return "start=" + encodeURIComponent(new Date(per.startMs).toISOString()) + "&end=" + encodeURIComponent(new Date(per.endMs).toISOString());
  }

  function periodBar(per) {
    const bar = el("div", { class: "periodbar", role: "group", "aria-label": t("period.label") });
    const kinds = el("div", { class: "seg" });
    PERIODS.forEach((k) => {
      const b = el("button", { type: "button", "data-period": k, "aria-pressed": String(per.kind === k), text: t("period." + k) });
      b.onclick = () => {
        if (k === "custom") go({ p: "custom", from: iso(per.first), to: iso(addDays(per.end, -1)), d: null });
        else go({ p: k, d: iso(per.first), from: null, to: null });
      };
      kinds.appendChild(b);
    });
    bar.appendChild(kinds);
    const prev = el("button", { type: "button", id: "period-prev", "aria-label": t("period.prev"), text: "‹" });
    const next = el("button", { type: "button", id: "period-next", "aria-label": t("period.next"), text: "›" });
    prev.onclick = () => go(Object.assign({ p: per.kind }, shift(per, -1)));
    next.onclick = () => go(Object.assign({ p: per.kind }, shift(per, 1)));
    bar.appendChild(el("div", { class: "nav-period" }, [prev, el("strong", { id: "period-label", text: periodLabel(per) }), next]));
    if (per.kind === "custom") {
      const from = el("input", { type: "date", id: "period-from", value: iso(per.first) });
      const to = el("input", { type: "date", id: "period-to", value: iso(addDays(per.end, -1)) });
      const apply = el("button", { type: "button", id: "period-apply", text: t("period.apply") });
      apply.onclick = () => go({ p: "custom", from: from.value, to: to.value });
      bar.appendChild(el("div", { class: "custom" }, [
        el("label", {}, [el("span", { text: t("period.from") }), from]),
        el("label", {}, [el("span", { text: t("period.to") }), to]), apply]));
    }
    return bar;
  }

  // ---- charts ------------------------------------------------------------------------------
  // Tick labels in the site's zone and the page's language: the date at local midnight,
  // the time of day elsewhere (short periods), months for long ones.
  function axisValues(spanS) {
    const hm = dateFmt({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    const md = dateFmt({ month: "numeric", day: "numeric" });
    const ym = dateFmt({ year: "numeric", month: "short" });
    return (u, splits) => splits.map((s) => {
      if (s === null) return "";
      const d = new Date(s * 1000);
      if (spanS > 70 * 86400) return ym.format(d);
      const midnight = (s * 1000 + offsetMs(s * 1000)) % 86400000 === 0;
      return midnight ? md.format(d) : spanS <= 14 * 86400 ? hm.format(d) : md.format(d);
    });
  }

  // Room for the longest tick label of the y axis (uPlot's fixed default cuts big numbers).
  function axisSize(u, values) {
    const longest = Math.max(3, ...(values || []).map((v) => String(v).length));
    return Math.ceil(longest * 7.2) + 28;
  }

  function plot(container, xs, series, extra) {
    const pts = series.reduce((n, s) => n + s.values.filter((v) => v !== null && v !== undefined).length, 0);
    container.setAttribute("data-points", String(pts));
    if (!series.length || pts === 0) { container.appendChild(el("p", { class: "muted nodata", text: t("msg.nodata") })); return null; }
    const span = xs.length ? xs[xs.length - 1] - xs[0] : 0;
    const full = dateFmt({ dateStyle: "medium", timeStyle: "short", hourCycle: "h23" });
    const opts = Object.assign({
      width: Math.max(260, container.clientWidth || 600),
      height: 240,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), tz()),
      series: [{ label: t("axis.time"), value: (u, v) => (v === null ? "–" : full.format(new Date(v * 1000))) }].concat(series.map((s, i) => Object.assign({
        label: s.label, stroke: s.color || PALETTE[i % PALETTE.length], width: 1.5,
        value: (u, v) => fmt(v, 1),
      }, s.opts || {}))),
      axes: [{ font: FONT, values: axisValues(span), stroke: "#475467" },
        { font: FONT, size: axisSize, stroke: "#475467", label: extra && extra.unit, labelFont: FONT, values: (u, vals) => vals.map((v) => fmt(v, 1)) }],
      legend: { live: true },
    }, (extra && extra.opts) || {});
    const chart = new uPlot(opts, [xs].concat(series.map((s) => s.values)), container);
    state.charts.push(chart);
    return chart;
  }

  function bars(container, xs, series, bucket) {
    const f = bucket === "hour" ? dateFmt({ hour: "2-digit", hourCycle: "h23" })
      : bucket === "day" ? dateFmt({ month: "numeric", day: "numeric" }) : dateFmt({ year: "2-digit", month: "short" });
    const widths = [0.8, 0.45, 0.3];
    const every = Math.max(1, Math.ceil(xs.length / Math.max(2, Math.floor((container.clientWidth || 600) / 70))));
    return plot(container, xs, series.map((s, i) => Object.assign({}, s, {
      opts: { fill: s.color + (i ? "cc" : "99"), paths: uPlot.paths.bars({ size: [widths[i % 3], 60] }), points: { show: false } },
    })), {
      unit: "kWh",
      opts: { axes: [{ font: FONT, stroke: "#475467", splits: () => xs.filter((x, i) => i % every === 0), values: (u, splits) => splits.map((s) => f.format(new Date(s * 1000))) },
        { font: FONT, size: axisSize, stroke: "#475467", values: (u, vals) => vals.map((v) => fmt(v, 0)) }],
      scales: { x: { time: false, range: () => [xs[0] - 0.6 * step(xs), xs[xs.length - 1] + 0.6 * step(xs)] },
        y: { range: (u, lo, hi) => [Math.min(0, lo), Math.max(hi, 0) * 1.05 || 1] } } },
    });
  }

  function step(xs) { return xs.length > 1 ? xs[1] - xs[0] : 3600; }

  // ---- data --------------------------------------------------------------------------------
  // Rows of the energy endpoints on one axis: {ts: [epoch s], kinds: {kind: {kwh: [], kw: []}}}.
  async function energySeries(q, base, kinds, per, res) {
    const pages = await Promise.all(kinds.map((k) =>
      q(base + "/energy?kind=" + k + "&resolution=" + res + "&limit=10000&" + periodQuery(per))));
    const stepS = { "15min": 900, "1h": 3600, "1D": 86400 }[res];
    const xs = [];
    for (let s = per.startMs / 1000; s < per.endMs / 1000; s += stepS) xs.push(s);
    const where = new Map(xs.map((x, i) => [x, i]));
    const out = { ts: xs, kinds: {}, rows: {} };
    kinds.forEach((k, j) => {
      const kwh = xs.map(() => null), kw = xs.map(() => null);
      pages[j].items.forEach((r) => {
        const i = where.get(Date.parse(r.ts) / 1000);
        if (i !== undefined) { kwh[i] = r.kwh; kw[i] = r.kw; }
      });
      if (pages[j].total > 0) { out.kinds[k] = { kwh: kwh, kw: kw }; out.rows[k] = pages[j].items; }
    });
    return out;
  }

  function bucketKey(ms, bucket) {
    if (bucket === "hour") return ms - (ms % 3600000);
    const d = localDate(ms);
    if (bucket === "day") return localMidnight(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate());
    return localMidnight(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  }

  function bucketed(data, kinds, bucket) {
    const keys = [], sums = {};
    const index = new Map();
    kinds.forEach((k) => { sums[k] = []; });
    data.ts.forEach((s, i) => {
      const key = bucketKey(s * 1000, bucket);
      let j = index.get(key);
      if (j === undefined) { j = keys.length; index.set(key, j); keys.push(key); kinds.forEach((k) => sums[k].push(null)); }
      kinds.forEach((k) => {
        const v = data.kinds[k].kwh[i];
        if (v !== null) sums[k][j] = (sums[k][j] || 0) + v;
      });
    });
    return { ts: keys.map((k) => k / 1000), sums: sums };
  }

  function total(arr) { return arr ? arr.reduce((a, v) => a + (v === null ? 0 : v), 0) : null; }
  function maxOf(arr) { const f = (arr || []).filter((v) => v !== null); return f.length ? Math.max(...f) : null; }

  async function forecastBand(q, meters, per, data) {
    if (!meters.length || meters.length > MAX_BAND_METERS || per.days > 62) return null;
    const pages = await Promise.all(meters.map((m) =>
      q("/meters/" + encodeURIComponent(m.id) + "/forecasts?limit=10000&" + periodQuery(per))));
    const stepS = data.ts.length > 1 ? data.ts[1] - data.ts[0] : 3600;
    const where = new Map(data.ts.map((x, i) => [x, i]));
    const qs = { 0.1: data.ts.map(() => null), 0.5: data.ts.map(() => null), 0.9: data.ts.map(() => null) };
    const seen = { 0.1: new Set(), 0.5: new Set(), 0.9: new Set() };
    pages.forEach((p, j) => p.items.forEach((r) => {
      if (!(r.quantile in qs)) return;
      const s = Math.floor(Date.parse(r.ts) / 1000 / stepS) * stepS;
      const i = where.get(s);
      if (i === undefined) return;
      qs[r.quantile][i] = (qs[r.quantile][i] || 0) + r.value / (stepS / 3600);
      seen[r.quantile].add(j);
    }));
    // a sum over some of the meters would look like a forecast of all of them
    const all = (k) => seen[k].size === meters.length;
    return { p50: all(0.5) ? qs[0.5] : null, p10: all(0.1) && all(0.9) ? qs[0.1] : null, p90: all(0.1) && all(0.9) ? qs[0.9] : null };
  }

  // ---- panels ------------------------------------------------------------------------------
  function powerPanel(view, id, data, band) {
    const names = { load: "load", pv: "pv", battery: "battery", grid_net: "net" };
    const series = [], columns = ["ts"], cols = [];
    if (band && band.p10) {
      series.push({ label: t("series.p90"), color: "#f4b08a", values: band.p90, opts: { width: 0, points: { show: false } } });
      series.push({ label: t("series.p10"), color: "#f4b08a", values: band.p10, opts: { width: 0, points: { show: false } } });
      columns.push("forecast_p90_kw", "forecast_p10_kw"); cols.push(band.p90, band.p10);
    }
    Object.entries(names).forEach(([k, n]) => {
      if (!data.kinds[k]) return;
      series.push({ label: t("series." + n), color: COLORS[n], values: data.kinds[k].kw });
      columns.push(k + "_kw"); cols.push(data.kinds[k].kw);
    });
    if (band && band.p50) {
      series.push({ label: t("series.forecast"), color: COLORS.forecast, values: band.p50, opts: { dash: [6, 4] } });
      columns.push("forecast_p50_kw"); cols.push(band.p50);
    }
    const box = el("div", { class: "chart", id: id });
    view.appendChild(panel(t("chart.power"), box, id));
    register(id, columns, data.ts.map((s, i) => [new Date(s * 1000).toISOString()].concat(cols.map((c) => c[i]))));
    const opts = band && band.p10 ? { bands: [{ series: [1, 2], fill: "rgba(244,176,138,0.35)" }] } : {};
    plot(box, data.ts, series, { unit: "kW", opts: opts });
  }

  function energyPanel(view, id, data, per) {
    const kinds = ["load", "pv"].filter((k) => data.kinds[k]);
    const b = bucketed(data, kinds, per.bucket);
    const box = el("div", { class: "chart", id: id });
    view.appendChild(panel(t("chart.energy_" + per.bucket), box, id));
    register(id, ["start"].concat(kinds.map((k) => k + "_kwh")),
      b.ts.map((s, i) => [new Date(s * 1000).toISOString()].concat(kinds.map((k) => b.sums[k][i]))));
    bars(box, b.ts, kinds.map((k) => ({ label: t("series." + k), color: COLORS[k], values: b.sums[k] })), per.bucket);
  }

  // Energy-account figures may be one number or a breakdown ({meter kind: kWh}): shown as the sum.
  function amount(v) {
    if (typeof v === "number") return v;
    if (v && typeof v === "object") return Object.values(v).reduce((a, x) => a + (typeof x === "number" ? x : 0), 0);
    return null;
  }

  function normalAccount(acc) {
    if (!acc) return null;
    const out = {};
    Object.entries(acc).forEach(([k, v]) => { out[k] = k === "currency" ? v : amount(v); });
    return out;
  }

  function accountCards(acc) {
    if (!acc) {
      return [card("card-account", t("card.unavailable"), "–", t("card.unavailable_hint"))];
    }
    const pct = (x) => (x === null || x === undefined ? "–" : fmt(100 * x, 1, "%"));
    return [
      card("card-cost", t("card.cost"), money(acc.bill_total, acc.currency),
        t("card.cost_hint", { energy: money(acc.bill_energy, acc.currency), demand: money(acc.bill_demand, acc.currency) })),
      card("card-co2", t("card.co2"), fmt(acc.scope2_location_kgco2 / 1000, 2, "tCO₂"),
        t("card.co2_hint", { market: fmt(acc.scope2_market_kgco2 / 1000, 2, "tCO₂") })),
      card("card-self", t("card.self"), pct(acc.self_sufficiency), t("card.self_hint", { self: energy(acc.self_consumed_kwh) })),
      card("card-import", t("card.import"), energy(acc.import_kwh), t("card.import_hint", { export: energy(acc.export_kwh) })),
      card("card-re", t("card.re"), pct(acc.re_share), t("card.re_hint", { cfe: pct(acc.cfe_share) })),
    ];
  }

  async function account(q, path, per) {
    if (!(await hasPath(path.replace(/\/tenants\/[^/]+\//, "/tenants/{}/")))) return null;
    try { return normalAccount(await q(path + "?" + periodQuery(per))); } catch (err) { if (err instanceof Cancelled) throw err; return null; }
  }

  function flowPanel(view, id, data, acc) {
    const sum = (k) => (data.kinds[k] ? total(data.kinds[k].kwh) : null);
    const load = acc ? acc.consumption_kwh : sum("load");
    const pv = acc ? acc.generation_kwh : sum("pv");
    const battery = sum("battery");
    const imp = acc ? acc.import_kwh : sum("grid_import");
    const exp = acc ? acc.export_kwh : sum("grid_export");
    const rows = [
      ["grid_import_kwh", imp], ["grid_export_kwh", exp], ["pv_kwh", pv],
      ["self_consumed_kwh", acc ? acc.self_consumed_kwh : null],
      ["battery_net_charge_kwh", battery], ["load_kwh", load],
    ];
    register(id, ["flow", "kwh"], rows.filter((r) => r[1] !== null && r[1] !== undefined));
    const node = (cls, name, value, sub) => el("div", { class: "node " + cls }, [
      el("div", { class: "node-name", text: name }), el("div", { class: "node-value", text: value }), el("div", { class: "hint", text: sub || "" })]);
    const box = el("div", { class: "flow", id: id, "data-points": String(rows.filter((r) => r[1] !== null && r[1] !== undefined).length) }, [
      node("grid", t("flow.grid"), imp === null || imp === undefined ? "–" : "↓ " + energy(imp), exp === null || exp === undefined ? "" : t("flow.export") + " ↑ " + energy(exp)),
      node("pv", t("flow.pv"), energy(pv), acc ? t("flow.self") + " " + energy(acc.self_consumed_kwh) : ""),
      node("battery", t("flow.battery"), battery === null ? "–" : energy(battery), battery === null ? "" : (battery >= 0 ? t("flow.charge") : t("flow.discharge"))),
      node("load", t("flow.load"), energy(load), ""),
    ]);
    view.appendChild(panel(t("chart.flow"), box, id));
  }

  // The stored battery plan (the control loop's last setpoint per interval) and the SoC readings.
  async function planPanel(q, view, assets, meters, per, id) {
    const batteries = assets.filter((a) => a.type === "battery");
    const socMeters = meters.filter((m) => m.kind === "battery" && m.unit === "%").slice(0, 10);
    if (!batteries.length && !socMeters.length) return;
    const pq = periodQuery(per);
    const [plans, socs] = await Promise.all([
      Promise.all(batteries.map((a) => q("/assets/" + encodeURIComponent(a.id) + "/schedule?limit=10000&" + pq))),
      Promise.all(socMeters.map((m) => q("/meters/" + encodeURIComponent(m.id) + "/readings?limit=10000&resolution=1h&" + pq))),
    ]);
    const stamps = Array.from(new Set([].concat(...plans.map((p) => p.items.map((x) => Date.parse(x.valid_from) / 1000))))).sort((a, b) => a - b);
    if (!stamps.length && !socs.some((p) => p.items.length)) return;  // nothing planned or measured
    const where = new Map(stamps.map((s, i) => [s, i]));
    const series = batteries.map((a, k) => {
      const values = stamps.map(() => null);
      plans[k].items.forEach((x) => { values[where.get(Date.parse(x.valid_from) / 1000)] = x.power_kw; });
      return { label: a.id + " " + t("series.plan"), values: values, opts: { paths: uPlot.paths.stepped({ align: 1 }) } };
    });
    const box = el("div", { class: "chart", id: id });
    if (stamps.length) view.appendChild(panel(t("chart.plan"), box, id));
    register(id, ["valid_from"].concat(batteries.map((a) => a.id + "_kw")),
      stamps.map((s, i) => [new Date(s * 1000).toISOString()].concat(series.map((x) => x.values[i]))));
    if (stamps.length) plot(box, stamps, series, { unit: "kW" });
    if (socs.some((p) => p.items.length)) {
      const xs = Array.from(new Set([].concat(...socs.map((p) => p.items.map((x) => Date.parse(x.ts) / 1000))))).sort((a, b) => a - b);
      const at = new Map(xs.map((s, i) => [s, i]));
      const sseries = socMeters.map((m, k) => {
        const values = xs.map(() => null);
        socs[k].items.forEach((x) => { values[at.get(Date.parse(x.ts) / 1000)] = x.value; });
        return { label: m.id, values: values, color: PALETTE[k % PALETTE.length] };
      });
      const sid = id + "-soc";
      const sbox = el("div", { class: "chart", id: sid });
      view.appendChild(panel(t("chart.soc"), sbox, sid));
      register(sid, ["ts"].concat(socMeters.map((m) => m.id + "_percent")),
        xs.map((s, i) => [new Date(s * 1000).toISOString()].concat(sseries.map((x) => x.values[i]))));
      plot(sbox, xs, sseries, { unit: "%" });
    }
  }

  function alertText(a) {
    const meter = a.meter_id || "";
    if (a.kind === "demand_over_target") return t("alerts.msg.demand_over_target", { value: fmt(a.value, 0, "kW"), when: when(a.ts) });
    if (a.kind === "data_gap") return a.ts ? t("alerts.msg.data_gap", { meter: meter, when: when(a.ts) }) : t("alerts.msg.data_gap_none", { meter: meter });
    if (a.kind === "quarantine") return t("alerts.msg.quarantine", { meter: meter, count: fmt(a.value, 0) });
    return meter;
  }

  async function alertsPanel(q, view, pending) {
    const a = await (pending || q("/alerts?limit=1000"));
    const id = "alerts";
    const list = el("ul", { class: "alerts", id: "alerts-list" });
    const kinds = Array.from(new Set(a.items.map((x) => x.kind)));
    const sel = (name, label, values, prefix) => {
      const s = el("select", { id: "alerts-" + name, "aria-label": label });
      s.appendChild(el("option", { value: "", text: label + ": " + t("alerts.all") }));
      values.forEach((v) => s.appendChild(el("option", { value: v, text: t(prefix + v) })));
      return s;
    };
    const kindSel = sel("kind", t("alerts.kind"), kinds, "alerts.");
    const sevSel = sel("severity", t("alerts.severity"), ["critical", "warning"], "severity.");
    function draw() {
      list.textContent = "";
      const shown = a.items.filter((x) => (!kindSel.value || x.kind === kindSel.value) && (!sevSel.value || x.severity === sevSel.value));
      if (!shown.length) list.appendChild(el("li", { class: "muted", text: t("alerts.none") }));
      shown.slice(0, alertRows).forEach((x) => list.appendChild(el("li", { class: x.severity }, [
        el("span", { class: "badge " + x.severity, text: t("severity." + x.severity) }),
        el("strong", { text: t("alerts." + x.kind) }), el("span", { text: " " + alertText(x) })])));
      register(id, ["kind", "severity", "meter_id", "ts", "value"], shown.map((x) => [x.kind, x.severity, x.meter_id, x.ts, x.value]));
      count.textContent = t("alerts.shown", { shown: fmt(Math.min(alertRows, shown.length), 0), total: fmt(shown.length, 0) });
      more.hidden = shown.length <= alertRows;
      count.hidden = shown.length === 0;
    }
    let alertRows = 20;
    const count = el("p", { class: "hint muted", id: "alerts-count" });
    const more = el("button", { type: "button", class: "more", id: "alerts-more", text: t("alerts.more") });
    more.onclick = () => { alertRows += 50; draw(); };
    kindSel.onchange = () => { alertRows = 20; draw(); };
    sevSel.onchange = kindSel.onchange;
    draw();
    const box = el("div", { id: "alerts" }, [el("div", { class: "filters" }, [kindSel, sevSel]), list, count, more,
      el("p", { class: "hint muted", text: t("alerts.readonly") })]);
    view.appendChild(panel(t("alerts.title") + " (" + a.total + ")", box, id));
  }

  // ---- tenant table (scales to thousands: search, sort, top-N chart + others) -----------------
  function tenantTable(view, rows) {
    const id = "tenants";
    const sum = rows.reduce((a, r) => a + r.energy_kwh, 0) || 1e-9;
    const byEnergy = rows.slice().sort((a, b) => b.energy_kwh - a.energy_kwh);
    const top = byEnergy.slice(0, TOP_N);
    const rest = byEnergy.slice(TOP_N);
    const chart = el("div", { class: "bars", id: "chart-park-tenants", "data-points": String(rows.length) });
    // bars scale to the largest tenant; "others" (often larger than all of them) is capped and greyed
    const max = Math.max(1e-9, ...top.map((r) => r.energy_kwh));
    const line = (label, kwh, href) => el("div", { class: "row" + (href ? "" : " others") }, [
      href ? el("a", { href: href, class: "name", text: label }) : el("span", { text: label }),
      el("div", { class: "track" }, [el("div", { class: "fill", style: "width:" + Math.min(100, 100 * kwh / max).toFixed(2) + "%" })]),
      el("span", { class: "num", text: fmt(kwh, 0) + " (" + fmt(100 * kwh / sum, 1, "%") + ")" })]);
    top.forEach((r) => chart.appendChild(line(r.name, r.energy_kwh, tenantHref(r.tenant_id))));
    if (rest.length) chart.appendChild(line(t("tenants.others", { n: fmt(rest.length, 0) }), rest.reduce((a, r) => a + r.energy_kwh, 0)));
    view.appendChild(panel(t("tenants.top", { n: top.length }), chart, "tenants-top"));
    register("tenants-top", ["tenant_id", "name", "energy_kwh"],
      top.map((r) => [r.tenant_id, r.name, r.energy_kwh]).concat(rest.length ? [["others", "others", rest.reduce((a, r) => a + r.energy_kwh, 0)]] : []));

    const search = el("input", { type: "search", id: "tenant-search", placeholder: t("tenants.search"), "aria-label": t("tenants.search") });
    const sort = el("select", { id: "tenant-sort", "aria-label": t("tenants.sort") });
    ["energy", "peak", "name"].forEach((k) => sort.appendChild(el("option", { value: k, text: t("tenants.sort_" + k) })));
    const p = route().params;
    search.value = p.get("q") || "";
    sort.value = ["energy", "peak", "name"].includes(p.get("sort")) ? p.get("sort") : "energy";
    const body = el("tbody");
    const note = el("p", { class: "hint muted", id: "tenant-count" });
    const more = el("button", { type: "button", id: "tenant-more", class: "more", text: t("tenants.more") });
    function draw() {
      const needle = search.value.trim().toLowerCase();
      let shown = rows.filter((r) => !needle || r.name.toLowerCase().includes(needle) || r.tenant_id.toLowerCase().includes(needle));
      const key = sort.value;
      shown.sort(key === "name" ? (a, b) => a.name.localeCompare(b.name, I.locale())
        : key === "peak" ? (a, b) => (b.peak_kw || 0) - (a.peak_kw || 0) : (a, b) => b.energy_kwh - a.energy_kwh);
      register(id, ["tenant_id", "name", "energy_kwh", "peak_kw"], shown.map((r) => [r.tenant_id, r.name, r.energy_kwh, r.peak_kw]));
      body.textContent = "";
      shown.slice(0, state.shown).forEach((r) => body.appendChild(el("tr", {}, [
        el("th", { scope: "row" }, [el("a", { href: tenantHref(r.tenant_id), class: "name", text: r.name })]),
        el("td", { class: "num", text: fmt(r.energy_kwh, 0) }),
        el("td", { class: "num", text: fmt(r.peak_kw, 0) }),
        el("td", { class: "num", text: fmt(100 * r.energy_kwh / sum, 1, "%") })])));
      if (!shown.length) body.appendChild(el("tr", {}, [el("td", { colspan: "4", class: "muted", text: t("tenants.none") })]));
      note.textContent = t("tenants.shown", { shown: fmt(Math.min(state.shown, shown.length), 0), total: fmt(shown.length, 0) });
      more.hidden = shown.length <= state.shown;
    }
    search.oninput = () => { state.shown = TABLE_ROWS; draw(); };
    sort.onchange = draw;
    more.onclick = () => { state.shown += TABLE_ROWS; draw(); };
    draw();
    const table = el("table", { class: "table", id: "tenant-table" }, [
      el("thead", {}, [el("tr", {}, [el("th", { scope: "col", text: t("tenants.name") }), el("th", { scope: "col", class: "num", text: t("tenants.energy") }),
        el("th", { scope: "col", class: "num", text: t("tenants.peak") }), el("th", { scope: "col", class: "num", text: t("tenants.share") })])]), body]);
    view.appendChild(panel(t("tenants.title") + " (" + fmt(rows.length, 0) + ")",
      el("div", {}, [el("div", { class: "filters" }, [search, sort]), el("div", { class: "scroll" }, [table]), note, more]), id));
  }

  function tenantHref(id) {
    const p = new URLSearchParams(route().params);
    p.delete("q"); p.delete("sort");
    return "#/tenant/" + encodeURIComponent(id) + "?" + p.toString();
  }

  // ---- pages -------------------------------------------------------------------------------
  async function latestDate(q, base, meters) {
    if (!meters.length) return localDate(Date.now());
    const res = await q(base + "/energy?kind=" + meters[0].kind + "&resolution=1h&limit=10000");
    const last = res.items.length ? Date.parse(res.items[res.items.length - 1].ts) : Date.now();
    return localDate(last);
  }

  async function energyPage(q, view, opts) {
    const flow = opts.meters.filter((m) => m.unit === "kWh" && KINDS.includes(m.kind));
    const kinds = KINDS.filter((k) => flow.some((m) => m.kind === k));
    const loads = flow.filter((m) => m.kind === "load");
    const per = period(opts.latest || await latestDate(q, opts.base, loads.length ? loads : flow));
    currentPeriod = per;
    if (opts.onPeriod) opts.onPeriod(per);
    const res = stepFor(per, flow);
    view.appendChild(el("h1", {}, [el("span", { class: "name", text: opts.title })]));
    view.appendChild(periodBar(per));
    const [data, acc] = await Promise.all([
      energySeries(q, opts.base, kinds, per, res),
      account(q, opts.base + "/accounts", per),
    ]);
    const fullBand = await forecastBand(q, loads, per, data);
    const load = data.kinds.load;
    const cards = el("div", { class: "cards", id: opts.prefix + "-cards" }, [
      card("card-consumption", t("card.consumption"), energy(load ? total(load.kwh) : null), "", false, load ? total(load.kwh) : null),
      card("card-generation", t("card.generation"), energy(data.kinds.pv ? total(data.kinds.pv.kwh) : null), "", false, data.kinds.pv ? total(data.kinds.pv.kwh) : null),
      card("card-peak", t("card.peak"), fmt(load ? maxOf(load.kw) : null, 0, "kW"), t("card.peak_hint", { step: t("step." + res) }), false, load ? maxOf(load.kw) : null),
    ].concat(opts.extraCards || []).concat(accountCards(acc)));
    view.appendChild(cards);
    register(opts.prefix + "-cards", ["figure", "value"], [
      ["consumption_kwh", load ? total(load.kwh) : null], ["generation_kwh", data.kinds.pv ? total(data.kinds.pv.kwh) : null],
      ["peak_kw", load ? maxOf(load.kw) : null]].concat(acc ? Object.entries(acc).filter(([, v]) => typeof v === "number") : []));
    view.setAttribute("data-period-start", new Date(per.startMs).toISOString());
    view.setAttribute("data-period-end", new Date(per.endMs).toISOString());
    view.setAttribute("data-resolution", res);
    powerPanel(view, "chart-" + opts.prefix + "-power", data, fullBand);
    energyPanel(view, "chart-" + opts.prefix + "-energy", data, per);
    flowPanel(view, "chart-" + opts.prefix + "-flow", data, acc);
    return per;
  }

  async function parkPage(q, view) {
    const alerts = early(q("/alerts?limit=1000"));
    const assets = early(q("/assets?limit=10000"));
    const o = await q("/park/overview?hours=24");
    let rowsP = null;
    const extra = [];
    const flowMeters = state.meters.filter((m) => m.unit === "kWh" && KINDS.includes(m.kind));
    const stepName = "step." + (nativeStep(flowMeters) <= 15 ? "15min" : nativeStep(flowMeters) <= 60 ? "1h" : "1D");
    const over = o.demand_target_kw !== null && o.latest_demand_kw !== null && o.latest_demand_kw > o.demand_target_kw;
    extra.push(card("card-demand", t("park.demand"), fmt(o.latest_demand_kw, 0, "kW"),
      o.demand_target_kw === null ? t("card.peak_hint", { step: t(stepName) })
        : t("park.demand_hint", { step: t(stepName), target: fmt(o.demand_target_kw, 0, "kW") }), over));
    if (o.latest_soc_percent !== null) extra.push(card("card-soc", t("park.soc"), fmt(o.latest_soc_percent, 0, "%"), ""));
    const per = await energyPage(q, view, {
      base: "/park", meters: state.meters, title: t("park.title") + " · " + state.site.name, prefix: "park", extraCards: extra,
      latest: o.end ? localDate(Date.parse(o.end) - 1) : null,
      onPeriod: (p) => { rowsP = early(q("/park/tenants?limit=10000&" + periodQuery(p))); },
    });
    tenantTable(view, (await rowsP).items);
    // the park's own batteries (a tenant's battery is on its page; a small park shows them all)
    const all = (await assets).items;
    const parkAssets = all.filter((a) => a.tenant === null);
    const parkMeters = state.meters.filter((m) => m.tenant === null);
    await planPanel(q, view, parkAssets.length ? parkAssets : state.tenants.length <= 10 ? all : [],
      parkMeters.length ? parkMeters : state.meters, per, "chart-park-schedule");
    await alertsPanel(q, view, alerts);
  }

  async function tenantsPage(q, view) {
    const per = period(await latestDate(q, "/park", state.meters.filter((m) => m.kind === "load" && m.unit === "kWh")));
    currentPeriod = per;
    view.appendChild(el("h1", { text: t("tenants.title") }));
    view.appendChild(periodBar(per));
    tenantTable(view, (await q("/park/tenants?limit=10000&" + periodQuery(per))).items);
  }

  async function tenantPage(q, view, tenantId) {
    const base = "/tenants/" + encodeURIComponent(tenantId);
    const alerts = early(q("/alerts?limit=1000"));
    const assetsP = early(q("/assets?limit=10000"));
    const re100 = early(q(base + "/re100"));
    const [tenant, meters] = await Promise.all([q(base), q(base + "/meters?limit=10000")]);
    const own = meters.items;
    let benchP = null;
    const per = await energyPage(q, view, { base: base, meters: own, title: tenant.name, prefix: "tenant",
      onPeriod: (p) => { benchP = early(q(base + "/benchmark?days=" + Math.max(1, Math.min(366, p.days)))); } });
    try {
      const r = await re100;
      const pct = r.re_share === null ? null : 100 * r.re_share;
      const box = el("div", { class: "bars", id: "chart-tenant-re100", "data-points": "1" }, [el("div", { class: "row" }, [
        el("span", { text: t("re100.share") + " " + r.year }),
        el("div", { class: "track" }, [el("div", { class: "fill", style: "width:" + Math.max(0, Math.min(100, pct || 0)) + "%" })]),
        el("span", { class: "num", text: fmt(pct, 1, "%") })])]);
      box.appendChild(el("div", { class: "hint muted", text: t("re100.target") + " " + fmt(100 * r.target_share, 0, "%") + " · " + r.target_year +
        (r.required_pp_per_year === null ? "" : " · " + t("re100.pace") + " " + fmt(r.required_pp_per_year, 1, "%p")) }));
      register("chart-tenant-re100", ["year", "re_share", "target_share", "target_year", "required_pp_per_year"],
        [[r.year, r.re_share, r.target_share, r.target_year, r.required_pp_per_year]]);
      view.appendChild(panel(t("tenant.re100"), box, "chart-tenant-re100"));
    } catch (err) {
      if (err instanceof Cancelled || err.status !== 404) throw err;
    }
    try {
      const b = await benchP;
      const box = el("div", { class: "bars", id: "chart-tenant-benchmark", "data-points": String(b.indicators.length) });
      b.indicators.forEach((i) => box.appendChild(el("div", { class: "row" }, [
        el("span", { text: t("ind." + i.name) + " (" + t("bench.better." + i.better) + ")" }),
        i.percentile === null ? el("span", { class: "note", text: t("bench.hidden") + " (" + i.group_size + "/" + b.min_group_size + ")" })
          : el("div", { class: "track" }, [el("div", { class: "fill", style: "width:" + i.percentile + "%" })]),
        el("span", { class: "num", text: i.percentile === null ? "" : fmt(i.percentile, 0, "%") })])));
      register("chart-tenant-benchmark", ["indicator", "percentile", "group_size"], b.indicators.map((i) => [i.name, i.percentile, i.group_size]));
      view.appendChild(panel(t("tenant.benchmark") + " · " + t("bench.group." + b.group), box, "chart-tenant-benchmark"));
    } catch (err) {
      if (err instanceof Cancelled || err.status !== 404) throw err;
    }
    const assets = (await assetsP).items.filter((a) => a.tenant === tenantId);
    await planPanel(q, view, assets, own, per, "chart-tenant-schedule");
    await alertsPanel(q, view, alerts);
  }

  // ---- demand response: the VEN's events and each one's customer baseline load (CBL) ----------
  // Every figure is the API's (/park/dr/... or /tenants/{id}/dr/..., computed by verify/dr.py).
  function drHref(eventId) {
    const p = new URLSearchParams(route().params);
    p.set("event", eventId);
    return "#/dr?" + p.toString();
  }

  function drEventsPanel(view, events, chosen) {
    const body = el("tbody");
    events.forEach((e) => {
      const on = chosen !== null && e.event_id === chosen.event_id;
      body.appendChild(el("tr", { class: on ? "selected" : undefined, "aria-current": on ? "true" : undefined }, [
        el("th", { scope: "row" }, [el("a", { href: drHref(e.event_id), text: e.event_id })]),
        el("td", { text: when(e.start) }),
        el("td", { text: when(e.end) }),
        el("td", { class: "num", text: fmt(e.target_kw, 0, "kW") }),
        el("td", { title: e.reason || undefined, text: t(e.opted_in ? "dr.opted_in" : "dr.opted_out") })]));
    });
    if (!events.length) body.appendChild(el("tr", {}, [el("td", { colspan: "5", class: "muted", text: t("dr.none") })]));
    register("dr-events", ["event_id", "start", "end", "target_kw", "opted_in", "reason"],
      events.map((e) => [e.event_id, e.start, e.end, e.target_kw, e.opted_in, e.reason]));
    const head = ["dr.event", "dr.start", "dr.end", "dr.target", "dr.status"].map((k, i) =>
      el("th", { scope: "col", class: i === 3 ? "num" : undefined, text: t(k) }));
    const table = el("table", { class: "table", id: "dr-events-table" }, [el("thead", {}, [el("tr", {}, head)]), body]);
    view.appendChild(panel(t("dr.events") + " (" + fmt(events.length, 0) + ")", el("div", { class: "scroll" }, [table]), "dr-events"));
  }

  function drCblPanel(view, cbl) {
    const body = el("tbody");
    const cols = ["dr.member", "dr.method", "dr.days", "dr.baseline_kw", "dr.metered_kw", "dr.vs", "dr.reduction_kw", "dr.reduction_kwh"];
    cbl.rows.forEach((r) => {
      // actual as a share of the baseline: under 100 % is load shed
      const share = r.baseline_kw ? 100 * r.metered_kw / r.baseline_kw : null;
      const bar = el("div", { class: "bars" }, [el("div", { class: "track" }, [el("div", { class: "fill", style: "width:" + Math.max(0, Math.min(100, share || 0)).toFixed(1) + "%" })])]);
      body.appendChild(el("tr", { class: r.kind === "park" ? "total" : undefined }, [
        el("th", { scope: "row", class: "name", text: r.name }),
        el("td", { text: r.method }),
        el("td", { class: "num", text: fmt(r.days, 0) }),
        el("td", { class: "num", text: fmt(r.baseline_kw, 1) }),
        el("td", { class: "num", text: fmt(r.metered_kw, 1) }),
        el("td", { title: fmt(share, 1, "%") }, [bar]),
        el("td", { class: "num", text: fmt(r.reduction_kw, 1) }),
        el("td", { class: "num", text: fmt(r.reduction_kwh, 1) })]));
    });
    if (!cbl.rows.length) body.appendChild(el("tr", {}, [el("td", { colspan: String(cols.length), class: "muted", text: t("dr.no_cbl") })]));
    register("dr-cbl", ["kind", "tenant_id", "name", "method", "days", "baseline_kwh", "metered_kwh", "reduction_kwh", "baseline_kw", "metered_kw", "reduction_kw"],
      cbl.rows.map((r) => [r.kind, r.tenant_id, r.name, r.method, r.days, r.baseline_kwh, r.metered_kwh, r.reduction_kwh, r.baseline_kw, r.metered_kw, r.reduction_kw]));
    const head = cols.map((k, i) => el("th", { scope: "col", class: i >= 2 && i !== 5 ? "num" : undefined, text: t(k) }));
    const table = el("table", { class: "table", id: "dr-cbl-table" }, [el("thead", {}, [el("tr", {}, head)]), body]);
    const notes = cbl.unavailable.map((u) => el("p", { class: "hint muted", title: u.reason, text: t("dr.unavailable", { method: u.method }) }));
    // a keyboard user can scroll the wide table on a phone
    const scroll = el("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": t("dr.cbl_table") }, [table]);
    const box = el("div", { id: "dr-cbl" }, [scroll].concat(notes).concat([el("p", { class: "hint muted", text: t("dr.hint") })]));
    view.appendChild(panel(t("dr.cbl", { event: cbl.event.event_id, when: when(cbl.event.start) }), box, "dr-cbl"));
  }

  async function drPage(q, view) {
    const base = state.me.tenant_id === null ? "/park" : "/tenants/" + encodeURIComponent(state.me.tenant_id);
    view.appendChild(el("h1", { text: t("dr.title") }));
    const events = (await q(base + "/dr/events?limit=1000")).items;
    const wanted = route().params.get("event");
    const chosen = events.find((e) => e.event_id === wanted) || events[0] || null;
    drEventsPanel(view, events, chosen);
    if (chosen !== null) drCblPanel(view, await q(base + "/dr/events/" + encodeURIComponent(chosen.event_id) + "/cbl?method=mid&method=max"));
  }

  // ---- shell -------------------------------------------------------------------------------
  function nav() {
    const box = document.getElementById("nav");
    box.textContent = "";
    const r = route();
    if (state.site && r.params.get("site") !== state.site.id) {  // the address names the site
      const params = new URLSearchParams(r.params);
      params.set("site", state.site.id);
      const path = (window.location.hash || "#/").slice(1).split("?")[0] || "/";
      history.replaceState(null, "", "#" + path + "?" + params.toString());
    }
    const qs = "?" + (state.site ? "site=" + encodeURIComponent(state.site.id) : "");
    const link = (href, text, active) => el("a", { href: href, class: active ? "active" : "", "aria-current": active ? "page" : undefined, text: text });
    if (state.me.tenant_id === null) {
      box.appendChild(link("#/" + qs, t("nav.park"), r.view === "park"));
      box.appendChild(link("#/tenants" + qs, t("nav.tenants"), r.view === "tenants" || r.view === "tenant"));
    } else {
      const own = state.tenants.find((x) => x.id === state.me.tenant_id);
      const mine = link("#/" + qs, own ? own.name : t("nav.tenants"), r.view !== "dr");
      mine.classList.add("name");
      box.appendChild(mine);
    }
    box.appendChild(link("#/dr" + qs, t("nav.dr"), r.view === "dr"));
    box.appendChild(el("a", { href: "/docs", text: t("nav.docs") }));
    const sites = document.getElementById("site-switch");
    sites.textContent = "";
    sites.hidden = state.sites.length < 2;
    sites.setAttribute("aria-label", t("nav.site"));
    state.sites.forEach((s) => sites.appendChild(el("option", { value: s.id, text: s.name })));
    if (state.site) sites.value = state.site.id;
    document.getElementById("who").textContent = state.me.user + " · " + t("role." + state.me.role);
  }

  async function loadSite(id) {
    state.site = state.sites.find((s) => s.id === id) || state.sites[0] || null;
    const [meters, tenants] = await Promise.all([api("/meters?limit=10000"), api("/tenants?limit=10000")]);
    state.meters = meters.items;
    state.tenants = tenants.items;
  }

  async function render() {
    const gen = ++state.gen;
    const q = requester(gen);
    state.charts.forEach((c) => c.destroy());
    state.charts = [];
    state.exports = {};
    const view = document.getElementById("view");
    view.removeAttribute("data-ready");
    view.textContent = "";
    view.appendChild(el("p", { class: "muted", text: t("msg.loading") }));
    const r = route();
    try {
      const wanted = r.params.get("site");
      if (wanted && state.site && wanted !== state.site.id) await loadSite(wanted);
      if (gen !== state.gen) return;
      nav();
      view.textContent = "";
      if (r.view === "dr") await drPage(q, view);
      else if (r.view === "tenant") await tenantPage(q, view, r.tenant);
      else if (state.me.tenant_id !== null) await tenantPage(q, view, state.me.tenant_id);
      else if (r.view === "tenants") await tenantsPage(q, view);
      else await parkPage(q, view);
      view.setAttribute("data-ready", "1");
    } catch (err) {
      if (err instanceof Cancelled) return;
      if (gen !== state.gen) return;
      view.appendChild(el("p", { class: "error", role: "alert", text: err.status === 404 ? t("msg.notfound") : t("msg.error", { message: String(err.message) }) }));
      view.setAttribute("data-ready", "error");
    }
  }

  function resize() {
    state.charts.forEach((c) => {
      const w = c.root.parentNode ? c.root.parentNode.clientWidth : 0;
      if (w > 0 && Math.abs(w - c.width) > 4) c.setSize({ width: Math.max(260, w), height: c.height });
    });
  }

  async function main() {
    I.apply();
    state.me = await api("/auth/me");
    state.sites = (await api("/sites?limit=10000")).items;
    await loadSite(route().params.get("site"));
    document.getElementById("logout").onclick = async function () {
      await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin" });
      window.location.assign("/login");
    };
    document.getElementById("site-switch").onchange = async function (ev) {
      await loadSite(ev.target.value);
      go({}, "/");
    };
    window.addEventListener("hashchange", render);
    window.addEventListener("bitgaram:lang", render);
    let timer = null;
    window.addEventListener("resize", () => { clearTimeout(timer); timer = setTimeout(resize, 150); });
    window.Bitgaram.exportText = exportText;
    await render();
  }

  main();
})();
