// PVARA operations dashboard: polls /api/v1/ops/overview every 2 s and renders it.
(function () {
  "use strict";
  const API = "/api/v1/ops";
  const POLL_MS = 2000;
  const $ = (sel) => document.querySelector(sel);

  // The token arrives once as #token=… (kept for this tab only) or is typed into the form.
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) {
    sessionStorage.setItem("pvara-token", hash.get("token"));
    history.replaceState(null, "", location.pathname);
  }
  const token = () => sessionStorage.getItem("pvara-token") || "";

  async function call(method, path, body) {
    const response = await fetch(API + path, {
      method,
      headers: { "Authorization": "Bearer " + token(), "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401 || response.status === 403) {
      showLogin(response.status === 403 ? "this token lacks the ops role" : "sign in");
      throw new Error("unauthorized");
    }
    if (!response.ok) throw new Error(method + " " + path + ": " + response.status);
    return response.json();
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      // Through the CSSOM: the page's CSP refuses style attributes (no 'unsafe-inline').
      else if (key === "style") node.style.cssText = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child instanceof Node ? child : String(child));
    return node;
  }
  const num = (value) => el("td", { class: "num" }, value);
  const ago = (ts) => {
    const s = Math.max(0, Date.now() / 1000 - ts);
    return s < 60 ? s.toFixed(0) + " s ago" : s < 3600 ? (s / 60).toFixed(0) + " min ago"
      : (s / 3600).toFixed(1) + " h ago";
  };

  // A hand-drawn sparkline: processed (blue) and failed (red) per bucket.
  function sparkline(processed, failed) {
    const w = 160, h = 28, n = processed.length;
    const max = Math.max(1, ...processed, ...failed);
    const points = (values) => values.map((v, i) =>
      (i * (w - 2) / Math.max(1, n - 1) + 1).toFixed(1) + "," + (h - 2 - v * (h - 4) / max).toFixed(1)
    ).join(" ");
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "spark"); svg.setAttribute("width", w); svg.setAttribute("height", h);
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    for (const [cls, values] of [["p", processed], ["f", failed]]) {
      const line = document.createElementNS(ns, "polyline");
      line.setAttribute("class", cls); line.setAttribute("points", points(values));
      svg.append(line);
    }
    return svg;
  }

  function fill(selector, rows, empty) {
    const body = $(selector + " tbody");
    body.replaceChildren(...(rows.length ? rows
      : [el("tr", {}, el("td", { colspan: 9, class: "dim" }, empty))]));
  }

  function renderPools(data) {
    fill("#pools", data.pools.map((p) => {
      const series = data.series[p.pool] || { processed: [], failed: [] };
      const input = el("input", { type: "number", min: 0, max: 64, value: p.desired,
                                  "aria-label": "desired " + p.pool });
      return el("tr", { "data-pool": p.pool },
        el("td", {}, p.pool),
        el("td", { class: "num depth" }, p.queue_depth), num(p.delayed), num(p.in_flight),
        num(p.dead), num(p.actual + " / " + p.desired),
        num(p.processed_1m + " / " + p.failed_1m),
        el("td", {}, sparkline(series.processed, series.failed)),
        el("td", {}, input, " ", el("button", { "data-action": "scale", onclick: () =>
          act(() => call("PUT", "/pools", { desired: { [p.pool]: Number(input.value) } })) },
          "set")));
    }), "no pools");
  }

  function renderLag(kafka) {
    $("#lag-title").textContent = kafka.group + " · " + kafka.topic;
    const max = Math.max(1, ...kafka.partitions.map((p) => p.lag));
    fill("#lag", kafka.partitions.map((p) => el("tr", { "data-partition": p.partition },
      el("td", {}, p.partition), num(p.lag),
      el("td", { style: "width:50%" }, el("div", { class: "bar",
        style: `width:${(100 * p.lag / max).toFixed(0)}%` })))), "Kafka did not answer");
  }

  function renderWorkers(workers) {
    fill("#workers", workers.map((w) => el("tr", {},
      el("td", {}, w.key), el("td", {}, w.pools.join(", ")), num(w.threads),
      num(w.processed), num(w.failed), el("td", {}, ago(w.last_seen)))), "no live workers");
  }

  function renderDead(dead) {
    fill("#dead", dead.map((d) => el("tr", { "data-message-id": d.message_id },
      el("td", {}, d.queue), el("td", {}, d.actor), el("td", {}, JSON.stringify(d.args)),
      num(d.retries), el("td", {}, ago(d.dead_at_ms / 1000)),
      el("td", { class: "err", title: d.error }, d.error),
      el("td", {},
        el("button", { "data-action": "inspect", onclick: () => act(async () => {
          const body = await call("GET", `/deadletters/${d.queue}/${d.message_id}`);
          $("#inspect").hidden = false;
          $("#inspect").textContent = JSON.stringify(body, null, 2);
        }) }, "inspect"), " ",
        el("button", { "data-action": "replay", onclick: () =>
          act(() => call("POST", `/deadletters/${d.queue}/${d.message_id}/replay`)) }, "replay"),
        " ",
        el("button", { "data-action": "delete", class: "danger", onclick: () =>
          confirm("Delete this message for good?") &&
          act(() => call("DELETE", `/deadletters/${d.queue}/${d.message_id}`)) }, "delete")))),
      "no dead letters");
  }

  function renderFailures(failures) {
    fill("#failures", failures.map((f) => el("tr", {},
      el("td", {}, ago(f.ts)), el("td", {}, f.pool), el("td", {}, f.actor),
      el("td", {}, f.application_id || "–"), el("td", { class: "err", title: f.error }, f.error))),
      "no recent failures");
  }

  function render(data) {
    $("#kpi-spend").textContent = "$" + data.llm.spend_today_usd.toFixed(4);
    $("#kpi-lag").textContent = data.kafka.total;
    $("#kpi-queued").textContent = data.pools.reduce((n, p) => n + p.queue_depth, 0);
    $("#kpi-workers").textContent = data.workers.length;
    $("#kpi-dead").textContent = data.dead_total;
    renderPools(data); renderLag(data.kafka); renderWorkers(data.workers);
    renderDead(data.dead_letters); renderFailures(data.failures);
    const status = $("#status");
    status.textContent = "live · updated " + new Date(data.ts * 1000).toLocaleTimeString();
    status.className = "status ok";
    document.body.dataset.loaded = "1";
  }

  async function refresh() {
    try {
      render(await call("GET", "/overview"));
    } catch (err) {
      if (err.message !== "unauthorized") {
        $("#status").textContent = "error: " + err.message;
        $("#status").className = "status bad";
      }
    }
  }

  async function act(action) {
    try { await action(); } catch (err) { $("#status").textContent = "error: " + err.message; }
    await refresh();
  }

  let timer = null;
  function showLogin(reason) {
    $("#main").hidden = true; $("#login").hidden = false;
    $("#status").textContent = reason; $("#status").className = "status bad";
    if (timer) { clearInterval(timer); timer = null; }
  }
  function start() {
    $("#login").hidden = true; $("#main").hidden = false;
    refresh();
    if (!timer) timer = setInterval(refresh, POLL_MS);
  }
  $("#login").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("pvara-token", $("#token").value.trim());
    start();
  });
  if (token()) start(); else showLogin("sign in");
})();
