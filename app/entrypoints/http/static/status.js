// The status page's only script. The page itself holds no data: everything comes from the
// token-protected JSON endpoints of this same server. The token is read from the URL
// fragment (#token=..., never sent to the server) or the form, removed from the address
// bar, and kept in sessionStorage for this tab only.
"use strict";

const KEY = "profitmaker-status-token";
const REFRESH_MS = 2000;
let timer = null;

function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    sessionStorage.setItem(KEY, token);
    history.replaceState(null, "", location.pathname + location.search);
  }
}

function token() { return sessionStorage.getItem(KEY); }

async function getJson(path) {
  const response = await fetch(path, {
    headers: { Authorization: "Bearer " + token() },
    cache: "no-store",
    credentials: "omit",
  });
  if (response.status === 401 || response.status === 403) {
    throw Object.assign(new Error("The token was refused (" + response.status + ")"), { auth: true });
  }
  if (!response.ok) throw new Error(path + " answered " + response.status);
  return response.json();
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function seconds(value) {
  if (value === null || value === undefined) return "-";
  return value < 10 ? value.toFixed(2) + " s" : value.toFixed(0) + " s";
}

function renderStreams(status) {
  const body = document.querySelector("#streams tbody");
  body.replaceChildren();
  for (const s of status.streams) {
    const row = body.insertRow();
    row.dataset.stream = [s.exchangeId, s.dataType, s.symbol].join(" ");
    cell(row, s.exchangeId);
    cell(row, s.dataType);
    cell(row, s.symbol);
    cell(row, s.timeframe || "");
    cell(row, String(s.subscribers), "num");
    cell(row, String(s.waiters), "num");
    // Silent for half the watchdog limit: the watchdog will restart it soon.
    const stale = s.watchdogSeconds && s.ageSeconds > s.watchdogSeconds / 2;
    cell(row, seconds(s.ageSeconds), "num" + (stale ? " stale" : ""));
    cell(row, seconds(s.lagSeconds), "num");
    // In a cluster: the node running the stream's upstream loop (this one or another).
    const here = status.cluster && status.cluster.node;
    cell(row, !s.ownerNode ? (here ? "-" : "this process")
      : s.ownerNode === here ? s.ownerNode + " (this node)" : s.ownerNode);
  }
  if (!status.streams.length) {
    cell(body.insertRow(), "no live stream").colSpan = 9;
  }
  document.getElementById("streams-summary").textContent =
    status.stats.streams + " streams, " + status.stats.subscriptions + " subscriptions, " +
    status.connections + " Socket.IO connections";
}

function renderCache(status) {
  const body = document.querySelector("#cache tbody");
  body.replaceChildren();
  const rows = [
    ["cached exchange instances", status.cache.size],
    ["evictions (expired)", status.cache.evictions.expired || 0],
    ["evictions (lru)", status.cache.evictions.lru || 0],
    ["Socket.IO connections", status.connections],
    ["uptime", seconds(status.server.uptimeSeconds)],
    ["cluster", !status.cluster || status.cluster.mode !== "cluster"
      ? "single process" : "on Redis (" + status.cluster.redis + ")"],
  ];
  const c = status.cluster;
  if (c && c.mode === "cluster" && c.streams) {
    rows.push(["this node", c.node]);
    rows.push(["streams owned / followed / alone",
      [c.streams.owner, c.streams.follower, c.streams.alone].join(" / ")]);
  }
  for (const [name, value] of rows) {
    const row = body.insertRow();
    cell(row, name);
    cell(row, String(value), "num");
  }
}

function renderBudgets(budget) {
  const body = document.querySelector("#budgets tbody");
  body.replaceChildren();
  const exchanges = (budget && budget.exchanges) || {};
  for (const [exchange, info] of Object.entries(exchanges)) {
    const reads = info.reads || {};
    const readText = ["exchange", "coalesced", "cache", "stream"].map((k) => reads[k] || 0).join(" / ");
    const stops = Object.entries(info.stops || {}).map(([k, v]) => k + ": " + v).join(", ") || "0";
    const families = Object.entries(info.families || {});
    if (!families.length) families.push(["", null]);
    for (const [family, f] of families) {
      const row = body.insertRow();
      cell(row, exchange);
      cell(row, family);
      if (f) {
        const used = Math.max(f.weightUsed || 0, f.exchangeReportedUsed || 0);
        const ratio = f.weightPerMinute ? used / f.weightPerMinute : 0;
        cell(row, used + " / " + f.weightPerMinute, "num");
        cell(row, (ratio * 100).toFixed(0) + " %", "num" + (ratio > 0.8 ? " warn" : ""));
        cell(row, String(f.requests || 0), "num");
      } else {
        cell(row, "-"); cell(row, "-"); cell(row, "-");
      }
      cell(row, readText, "num");
      cell(row, stops);
    }
  }
  if (!body.rows.length) {
    cell(body.insertRow(), budget ? "no exchange called yet" : "not available on this server").colSpan = 7;
  }
}

async function refresh() {
  try {
    const status = (await getJson("/api/status")).data;
    let budget = null;
    try { budget = (await getJson("/api/budget")).data; } catch (e) { if (e.auth) throw e; }
    renderStreams(status);
    renderBudgets(budget);
    renderCache(status);
    document.getElementById("server").textContent = "version " + status.server.version;
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    document.getElementById("error").hidden = true;
    document.getElementById("dashboard").hidden = false;
    document.body.dataset.state = "live";
  } catch (error) {
    const box = document.getElementById("error");
    box.textContent = error.message;
    box.hidden = false;
    if (error.auth) logout();
  }
}

function start() {
  document.getElementById("login").hidden = true;
  refresh();
  clearInterval(timer);
  timer = setInterval(refresh, REFRESH_MS);
}

function logout() {
  sessionStorage.removeItem(KEY);
  clearInterval(timer);
  document.getElementById("dashboard").hidden = true;
  document.getElementById("login").hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  takeTokenFromFragment();
  document.getElementById("login").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("token");
    sessionStorage.setItem(KEY, input.value);
    input.value = "";
    start();
  });
  document.getElementById("logout").addEventListener("click", logout);
  if (token()) start(); else logout();
});
