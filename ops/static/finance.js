// PVARA finance page: the cost report (/api/v1/reports/llm-costs) as a chart and tables.
(function () {
  "use strict";
  const API = "/api/v1/reports/llm-costs";
  const $ = (sel) => document.querySelector(sel);

  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) {
    sessionStorage.setItem("pvara-token", hash.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  const token = () => sessionStorage.getItem("pvara-token") || "";

  // Money as money: cents for amounts, four decimals per application (report strings are exact).
  const usd = (value) => {
    const n = Number(value);
    return (n < 0 ? "-$" : "$") + Math.abs(n).toLocaleString("en-US",
      { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  };
  const perApp = (value) => {
    const n = Number(value);
    if (n > 0 && n < 0.00005) return "<$0.0001";
    return "$" + n.toLocaleString("en-US", { minimumFractionDigits: 4, maximumFractionDigits: 4 });
  };
  const pct = (value) => (Number(value) * 100).toFixed(2) + "%";
  const int = (value) => Number(value).toLocaleString("en-US");

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      // Through the CSSOM: the page's CSP refuses style attributes (no 'unsafe-inline').
      if (key === "style") node.style.cssText = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child instanceof Node ? child : String(child));
    return node;
  }
  const num = (value) => el("td", { class: "num" }, value);

  function query(groupBy) {
    const params = new URLSearchParams({ group_by: groupBy, per_day: $("#per-day").value || "1000000" });
    if ($("#from").value) params.set("from", $("#from").value);
    if ($("#to").value) params.set("to", $("#to").value);
    return API + "?" + params.toString();
  }

  async function call(url, accept) {
    const response = await fetch(url, {
      headers: { "Authorization": "Bearer " + token(), "Accept": accept || "application/json" },
    });
    if (response.status === 401 || response.status === 403) {
      showLogin(response.status === 403 ? "this token lacks the finance role" : "sign in");
      throw new Error("unauthorized");
    }
    if (!response.ok) throw new Error(url + ": " + response.status);
    return accept === "text/csv" ? response.text() : response.json();
  }

  // Every day of the period gets a bar, spending or not.
  function days(report) {
    const spend = Object.fromEntries(report.rows.map((r) => [r.key, Number(r.cost_usd)]));
    const out = [];
    const day = new Date(report.start);
    const end = new Date(report.end);
    while (day < end) {
      const key = day.toISOString().slice(0, 10);
      out.push({ day: key, usd: spend[key] || 0 });
      day.setUTCDate(day.getUTCDate() + 1);
    }
    return out;
  }

  function renderChart(report) {
    const series = days(report);
    const ns = "http://www.w3.org/2000/svg";
    const w = 1000, h = 240, left = 64, bottom = 24, top = 12;
    const max = Math.max(0.01, ...series.map((d) => d.usd));
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    svg.setAttribute("preserveAspectRatio", "none");
    const add = (tag, attrs, text) => {
      const node = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      if (text !== undefined) node.textContent = text;
      svg.append(node);
      return node;
    };
    add("line", { class: "axis", x1: left, y1: h - bottom, x2: w, y2: h - bottom });
    for (const f of [0.5, 1]) {
      const y = h - bottom - f * (h - bottom - top);
      add("line", { class: "axis", x1: left, y1: y, x2: w, y2: y });
      add("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, usd(max * f));
    }
    const slot = (w - left) / Math.max(1, series.length);
    series.forEach((d, i) => {
      const bh = (d.usd / max) * (h - bottom - top);
      const bar = add("rect", { class: "day", "data-day": d.day, "data-usd": d.usd.toFixed(8),
        x: left + i * slot + slot * 0.15, y: h - bottom - bh, width: Math.max(1, slot * 0.7),
        height: Math.max(d.usd > 0 ? 1 : 0, bh) });
      const title = document.createElementNS(ns, "title");
      title.textContent = d.day + ": " + usd(d.usd);
      bar.append(title);
      if (series.length <= 31 && (i % Math.ceil(series.length / 10) === 0)) {
        add("text", { x: left + i * slot + slot / 2, y: h - 6, "text-anchor": "middle" }, d.day.slice(5));
      }
    });
    $("#chart").replaceChildren(svg);
    $("#chart-title").textContent = series.length + " days, " + usd(report.total.cost_usd) + " in all";
  }

  function renderMix(report) {
    const total = Number(report.total.cost_usd) || 0;
    const apps = report.total.applications || 0;
    $("#mix tbody").replaceChildren(...report.rows.map((r) => {
      const share = apps ? r.applications / apps : 0;
      return el("tr", { "data-provider": r.key }, el("td", {}, r.key), num(int(r.applications)),
        el("td", {}, el("span", { class: "mix", style: `width:${(60 * share).toFixed(0)}px` }), pct(share)),
        num(usd(r.cost_usd)), num(total ? pct(Number(r.cost_usd) / total) : "–"));
    }));
  }

  function renderProjection(report) {
    const p = report.projection;
    $("#projection-title").textContent = "at " + int(p.applications_per_day) + " applications/day";
    $("#projection tbody").replaceChildren(...p.providers.map((r) => el("tr", { "data-provider": r.provider },
      el("td", {}, r.provider), num(pct(r.share_of_applications)), num(perApp(r.cost_per_application)),
      num(int(r.applications_per_month)), el("td", { class: "num monthly" }, usd(r.usd_per_month)),
      el("td", { class: "dim" }, r.compute
        ? `${r.units_billed} ${r.compute} × ${usd(r.hour_usd)}/h × 720 h (needs ${Number(r.hours_per_month).toLocaleString("en-US")} ${r.compute} h/month)`
        : (r.self_hosted ? "in-process, not priced" : "API")))));
    $("#projection-total").textContent = usd(p.total_usd_per_month);
  }

  function renderKpis(byProvider) {
    const t = byProvider.total;
    $("#kpi-spend").textContent = usd(t.cost_usd);
    $("#kpi-apps").textContent = int(t.applications);
    $("#kpi-per-app").textContent = perApp(t.cost_per_application);
    $("#kpi-paid").textContent = pct(byProvider.paid_share);
    $("#kpi-month").textContent = usd(byProvider.projection.total_usd_per_month);
  }

  async function refresh() {
    try {
      const [byDay, byProvider] = await Promise.all([call(query("day")), call(query("provider"))]);
      if (!$("#from").value) $("#from").value = byDay.start.slice(0, 10);
      if (!$("#to").value) {
        const last = new Date(byDay.end); last.setUTCDate(last.getUTCDate() - 1);
        $("#to").value = last.toISOString().slice(0, 10);
      }
      renderKpis(byProvider); renderChart(byDay); renderMix(byProvider); renderProjection(byProvider);
      $("#status").textContent = "report " + byDay.start.slice(0, 10) + " .. " + $("#to").value;
      $("#status").className = "status ok";
      document.body.dataset.loaded = "1";
    } catch (err) {
      if (err.message !== "unauthorized") {
        $("#status").textContent = "error: " + err.message;
        $("#status").className = "status bad";
      }
    }
  }

  async function downloadCsv() {
    const text = await call(query("day"), "text/csv");
    const link = el("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })),
      download: `llm-costs-${$("#from").value}-${$("#to").value}.csv` });
    document.body.append(link); link.click(); link.remove();
  }

  function showLogin(reason) {
    $("#main").hidden = true; $("#login").hidden = false;
    $("#status").textContent = reason; $("#status").className = "status bad";
  }
  function start() { $("#login").hidden = true; $("#main").hidden = false; refresh(); }
  $("#login").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("pvara-token", $("#token").value.trim());
    start();
  });
  $("#filters").addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
  $("#csv").addEventListener("click", () => downloadCsv().catch((err) => {
    $("#status").textContent = "error: " + err.message;
  }));
  const params = new URLSearchParams(location.search);
  for (const [name, id] of [["from", "#from"], ["to", "#to"], ["per_day", "#per-day"]]) {
    if (params.get(name)) $(id).value = params.get(name);
  }
  if (token()) start(); else showLogin("sign in");
})();
