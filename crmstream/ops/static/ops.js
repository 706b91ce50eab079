// The ops page: one server-sent event per refresh carries the whole snapshot
// (crmstream/ops/data.py shapes it); this script only draws it. No reload needed.
"use strict";

const state = { split: "channel", snapshot: null };
const PLOT_CONFIG = { displayModeBar: false, responsive: true };
const LAYOUT = {
  margin: { l: 45, r: 15, t: 10, b: 35 },
  legend: { orientation: "h", y: -0.2 },
  font: { size: 11 },
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fmt(value, digits = 2) {
  if (value === null || value === undefined) return "–";
  return Number.isInteger(value) ? String(value) : Number(value).toFixed(digits);
}

// An empty chart says so instead of drawing bare axes.
function emptyLayout(layout, empty, text) {
  if (!empty) return layout;
  return {
    ...layout,
    xaxis: { visible: false }, yaxis: { visible: false },
    annotations: [{ text, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5,
      font: { size: 14, color: "#6b7280" } }],
  };
}

function when(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", "Z") : "–";
}

function severity(alert) {
  return el("span", { class: `sev sev-${alert.severity}` }, alert.severity);
}

function link(alert) {
  return el("a", { href: alert.communications, class: "communications" }, "communications");
}

function renderAlerts(alerts, hours) {
  document.getElementById("resolved-hours").textContent = String(hours);
  const firing = document.querySelector("#alerts-firing tbody");
  const resolved = document.querySelector("#alerts-resolved tbody");
  const active = alerts ? alerts.firing : [];
  const done = alerts ? alerts.resolved : [];
  firing.replaceChildren(
    ...active.map((a) =>
      el("tr", { class: "firing", "data-alert-id": a.alert_id, "data-state": "firing" },
        el("td", {}, severity(a)),
        el("td", { class: "rule" }, a.rule),
        el("td", { class: "key" }, `${a.dimension} ${a.key}`),
        el("td", {}, `${fmt(a.value)} vs ${fmt(a.threshold)} (${a.samples} samples)`),
        el("td", {}, `${when(a.window_start)} – ${when(a.window_end)}`),
        el("td", { class: "since" }, when(a.fired_at)),
        el("td", {}, link(a)))));
  resolved.replaceChildren(
    ...done.map((a) =>
      el("tr", { "data-alert-id": a.alert_id, "data-state": "resolved" },
        el("td", {}, severity(a)),
        el("td", { class: "rule" }, a.rule),
        el("td", { class: "key" }, `${a.dimension} ${a.key}`),
        el("td", {}, `${when(a.fired_at)} / ${when(a.resolved_at)}`),
        el("td", {}, `${fmt(a.value)} → ${fmt(a.resolved_value)} (threshold ${fmt(a.threshold)})`),
        el("td", {}, a.resolution || "–"),
        el("td", {}, link(a)))));
  const count = document.getElementById("firing-count");
  count.textContent = String(active.length);
  count.classList.toggle("zero", active.length === 0);
  document.getElementById("no-firing").hidden = active.length > 0;
}

function renderSatisfaction(charts) {
  const lines = charts ? charts.by[state.split] : {};
  const traces = Object.entries(lines).map(([key, series]) => ({
    x: series.t, y: series.satisfaction, name: key, type: "scatter", mode: "lines",
    connectgaps: false,
  }));
  if (charts) {
    traces.push({
      x: charts.overall.t, y: charts.overall.satisfaction, name: "all",
      type: "scatter", mode: "lines", line: { dash: "dot", color: "#1d2330", width: 3 },
    });
  }
  Plotly.react("chart-satisfaction", traces, {
    ...LAYOUT, yaxis: { range: [0, 1], title: "predicted satisfaction" },
  }, PLOT_CONFIG);
}

function renderVolume(charts) {
  const overall = charts ? charts.overall : { t: [], volume: [], negative_share: [] };
  Plotly.react("chart-volume", [
    { x: overall.t, y: overall.volume, name: "communications", type: "bar",
      marker: { color: "#9db4d9" } },
    { x: overall.t, y: overall.negative_share, name: "negative share", type: "scatter",
      mode: "lines", yaxis: "y2", line: { color: "#b3261e" } },
  ], {
    ...LAYOUT,
    yaxis: { title: "per bucket" },
    yaxis2: { overlaying: "y", side: "right", range: [0, 1], tickformat: ".0%" },
  }, PLOT_CONFIG);
}

function renderNeeds(charts) {
  const top = charts ? [...charts.needs.top].reverse() : [];
  Plotly.react("chart-needs", [{
    x: top.map((n) => n.count), y: top.map((n) => n.need), type: "bar", orientation: "h",
    marker: { color: "#6c8ebf" },
  }], { ...LAYOUT, margin: { ...LAYOUT.margin, l: 110 } }, PLOT_CONFIG);
  const rising = charts ? charts.needs.rising : [];
  document.getElementById("rising-needs").replaceChildren(
    ...(rising.length ? rising.map((r) =>
      el("li", { "data-need": r.need },
        `${r.need}: ${(100 * r.recent_share).toFixed(0)} % of the newest 3 h `
        + `against ${(100 * r.share).toFixed(0)} % (×${r.lift})`))
      : [el("li", { class: "muted" }, "no need is rising")]));
}

function renderModels(models, charts) {
  const summary = document.getElementById("model-summary");
  const rows = [];
  const add = (name, value) => rows.push(el("dt", {}, name), el("dd", {}, value));
  if (models) {
    const versions = Object.entries(models.versions).map(([m, v]) => `${m} v${v}`).join(", ");
    add("versions in use", versions || "no worker reporting to Prometheus");
    for (const q of models.quality) add(`${q.model} ${q.metric}`, fmt(q.value, 3));
    add("drift events", String(models.events.drift));
    add("emerging-need events", String(models.events.emerging_need));
  } else {
    add("Prometheus", "unavailable");
  }
  add("newest indexed with bundle",
    charts && charts.indexed_model_version !== null ? `v${charts.indexed_model_version}` : "–");
  summary.replaceChildren(...rows);
  const lines = models ? Object.entries(models.accuracy) : [];
  Plotly.react("chart-accuracy", lines.map(([model, s]) => ({
    x: s.t, y: s.v, name: `${model} rolling accuracy`, type: "scatter", mode: "lines+markers",
    marker: { size: 4 },
  })), emptyLayout({
    ...LAYOUT,
    xaxis: { type: "date", range: models ? models.accuracy_range : undefined },
    yaxis: { range: [0, 1], title: "accuracy" },
  },
    lines.length === 0, "no accuracy reported yet"), PLOT_CONFIG);
}

// Hours as small bars of text: one glance at how fast a need grows.
function sparkline(counts) {
  const bars = "▁▂▃▄▅▆▇█";
  const top = Math.max(1, ...counts);
  return counts.map((n) => bars[Math.min(7, Math.floor((7 * n) / top))]).join("");
}

function renderEmerging(rows) {
  const needs = rows || [];
  document.querySelector("#emerging-needs tbody").replaceChildren(
    ...needs.map((e) =>
      el("tr", { "data-cluster-id": e.cluster_id },
        el("td", { class: "key" }, e.cluster_id),
        el("td", {}, e.trigger),
        el("td", {}, e.top_terms.join(", ")),
        el("td", {}, el("ul", { class: "examples" }, ...e.examples.map((t) => el("li", {}, t)))),
        el("td", {}, el("span", { class: "spark", title: e.hourly.join(" ") }, sparkline(e.hourly)),
          ` ${e.size} texts, ${e.recent} in the last window`),
        el("td", {}, Object.entries(e.needs)
          .map(([need, share]) => `${need} ${(100 * share).toFixed(0)} %`).join(", ") || "–"),
        el("td", { class: "since" }, when(e.at)))));
  document.getElementById("no-emerging").hidden = needs.length > 0;
  const count = document.getElementById("emerging-count");
  count.textContent = String(needs.length);
  count.classList.toggle("zero", needs.length === 0);
}

function renderDeadLetters(rows) {
  const reasons = rows || [];
  Plotly.react("chart-deadletters", [
    { x: reasons.map((r) => r.reason), y: reasons.map((r) => r.count), name: "kept",
      type: "bar", marker: { color: "#c9a227" } },
    { x: reasons.map((r) => r.reason), y: reasons.map((r) => r.recent), name: "last 24 h",
      type: "bar", marker: { color: "#b3261e" } },
  ], emptyLayout({ ...LAYOUT, barmode: "group" }, reasons.length === 0, "no dead letters"),
  PLOT_CONFIG);
}

function render(snapshot) {
  state.snapshot = snapshot;
  renderAlerts(snapshot.alerts, snapshot.resolved_hours);
  renderSatisfaction(snapshot.charts);
  renderVolume(snapshot.charts);
  renderNeeds(snapshot.charts);
  renderModels(snapshot.models, snapshot.charts);
  renderDeadLetters(snapshot.dead_letters);
  renderEmerging(snapshot.emerging);
  const errors = document.getElementById("errors");
  errors.textContent = snapshot.errors.join("\n");
  errors.hidden = snapshot.errors.length === 0;
  document.getElementById("updated").textContent = `updated ${when(snapshot.generated_at)}`;
  document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
}

function connect() {
  const status = document.getElementById("status");
  const source = new EventSource("/api/stream");
  source.addEventListener("snapshot", (event) => {
    status.textContent = "live";
    status.className = "status live";
    render(JSON.parse(event.data));
  });
  // EventSource reconnects by itself; say so meanwhile.
  source.onerror = () => {
    status.textContent = "reconnecting…";
    status.className = "status down";
  };
}

document.querySelectorAll("#split-tabs button").forEach((button) => {
  button.addEventListener("click", () => {
    state.split = button.dataset.split;
    document.querySelectorAll("#split-tabs button").forEach((b) =>
      b.classList.toggle("active", b === button));
    if (state.snapshot) renderSatisfaction(state.snapshot.charts);
  });
});

connect();
