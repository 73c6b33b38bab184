// minerflow dashboard: draws the charts of a server-rendered page from the /v1 API with uPlot.
// Every text from the index (pool names, exchange labels) reaches the page as text: uPlot
// writes legends with textContent, and this file never builds markup from strings.
"use strict";

// One colour per pool on every chart and page: pools take the palette in the order of their
// blocks over the whole chain (the same for every chart), the rest share grey.
const PALETTE = ["#d97706", "#2563eb", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#65a30d",
                 "#db2777", "#ca8a04", "#4f46e5", "#0d9488", "#e11d48"];
const GREY = "#6b7280";
const OTHER = "#cbd5e1";
const WINDOW_SECONDS = {"24h": 86400, "3d": 3 * 86400, "1w": 7 * 86400, "1m": 30 * 86400,
                        "3m": 91 * 86400, "6m": 182 * 86400, "1y": 365 * 86400, "all": null};
const TOP = 6;
const compact = new Intl.NumberFormat("en", {notation: "compact", maximumFractionDigits: 2});
const drawn = {};
window.minerflow = {charts: drawn};

async function fetchJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

// Every row of a list endpoint, following next_cursor.
async function allRows(path, params) {
  const rows = [];
  let cursor = null;
  for (;;) {
    const query = new URLSearchParams({...params, limit: "10000"});
    if (cursor !== null) query.set("cursor", String(cursor));
    const body = await fetchJson(`${path}?${query}`);
    rows.push(...body.data);
    cursor = body.next_cursor;
    if (cursor === null || cursor === undefined) return rows;
  }
}

const daySeconds = day => Date.parse(`${day}T00:00:00Z`) / 1000;
const toBtc = sats => sats === null || sats === undefined ? null : sats / 1e8;

function siRate(v) {
  if (v === null || v === undefined) return "–";
  if (v !== 0 && Math.abs(v) < 0.01) return `${v.toExponential(1)} H/s`;
  const units = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"];
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v.toPrecision(3)} ${units[i]}`;
}

function empty(el, text) {
  const note = document.createElement("p");
  note.className = "empty";
  note.textContent = text;
  el.replaceChildren(note);
  el.dataset.ready = "empty";
}

let poolColours = null;

// name -> colour of every pool, by its rank in blocks over the whole chain.
async function poolPalette() {
  if (poolColours === null) {
    poolColours = fetchJson("/v1/pools?window=all").then(body => {
      const colours = new Map();
      body.data.forEach((p, rank) => colours.set(p.name, PALETTE[rank] || GREY));
      return colours;
    });
  }
  return poolColours;
}

const isGap = v => v === null || v === undefined;

// Draw one chart: x in unix seconds, named series of raw values; `stacked` fills cumulative
// areas while legends and the exposed data keep each series' own values; a point where any
// layer has no value (a day without a price) is a gap in every layer, never a drop to 0.
// `colours` maps a series' name to its colour (default: the palette in order).
function plot(el, x, named, {stacked = false, unit = "", format = null, right = null,
                             colours = null, bars = false, note = null} = {}) {
  const names = Object.keys(named);
  const colourOf = name => name === "other" ? OTHER :
    (colours && colours.get(name)) || PALETTE[names.indexOf(name) % PALETTE.length];
  drawn[el.id] = {x, series: named, colours: Object.fromEntries(names.map(n => [n, colourOf(n)]))};
  if (x.length === 0 || names.length === 0) return empty(el, note || "No data yet.");
  if (names.every(n => named[n].every(isGap))) return empty(el, note || "No values yet.");
  const show = format || (v => v === null || v === undefined ? "–" : `${v.toLocaleString()} ${unit}`);
  const values = names.map(n => named[n]);
  let lines = values;
  if (stacked) {
    const gap = x.map((_t, i) => values.some(v => isGap(v[i])));
    const sums = new Array(x.length).fill(0);
    lines = values.map(v => v.map((y, i) => gap[i] ? null : (sums[i] += y)));
    drawn[el.id].stacked = Object.fromEntries(names.map((n, i) => [n, lines[i]]));
    lines.reverse();  // the tallest first, so each smaller area paints over it
  }
  const order = stacked ? [...names].reverse() : names;
  const raw = stacked ? [...values].reverse() : values;
  const series = [{}].concat(order.map(name => {
    const color = colourOf(name);
    return {
      label: name, stroke: color, width: 1.5,
      fill: stacked || bars ? color + (bars ? "cc" : "55") : undefined,
      paths: bars ? uPlot.paths.bars({size: [0.8, 40]}) : undefined,
      scale: right && right.names.includes(name) ? "right" : "y",
      value: (u, _v, si, di) => di === null || di === undefined ? "–" :
        (right && right.names.includes(name) ? right.format : show)(raw[si - 1][di]),
    };
  }));
  const tick = format || (v => `${compact.format(v)} ${unit}`);
  const axes = [{}, {scale: "y", size: 90, values: (u, ticks) => ticks.map(t => tick(t))}];
  if (right) axes.push({scale: "right", side: 1, size: 70, grid: {show: false},
                        values: (u, ticks) => ticks.map(t => right.format(t))});
  const opts = {
    width: Math.max(320, el.clientWidth || 900), height: 240, series, axes,
    scales: {x: {time: true}, y: {}, right: {}},
  };
  el.replaceChildren();
  new uPlot(opts, [x, ...lines], el);
  el.dataset.ready = "1";
}

const body = document.body.dataset;
const level = body.level || "1";

async function topPools() {
  const balances = await fetchJson("/v1/miners/balances?limit=10000");
  return balances.data.filter(b => b.entity !== "all" && b[`level${level}`] > 0)
    .slice(0, TOP);
}

// The window asked for applies to every chart: days from the one it starts on (the tip's
// chain time minus its length); `all` is the whole chain.
function windowSince() {
  const seconds = WINDOW_SECONDS[body.window || "1w"];
  if (!seconds || !body.tipTime) return {};
  return {since: new Date((Number(body.tipTime) - seconds) * 1000).toISOString().slice(0, 10)};
}

async function minerSeries(entity, extra = {}) {
  return allRows("/v1/miners/series", {entity, level, interval: "day", ...windowSince(),
                                       ...extra});
}

async function drawBalance(el) {
  const value = usd ? (r => r.balance_usd) : (r => toBtc(r.balance));
  const pools = await topPools();
  const all = await minerSeries("all");
  const x = all.map(r => daySeconds(r.day));
  const named = {};
  const rest = all.map(value);
  for (const p of pools) {
    const rows = await minerSeries(p.entity);
    named[p.name] = rows.map(value);
    rows.forEach((r, i) => { rest[i] = rest[i] === null || value(r) === null ? null : rest[i] - value(r); });
  }
  if (rest.some(v => v !== null && Math.abs(v) > 1e-9)) named["other"] = rest;
  plot(el, x, named, {stacked: true, unit: UNIT, colours: await poolPalette()});
}

// The unit asked for applies to every amount: BTC, or USD at the day's close (null, a gap,
// on a day without one). Amounts the rows carry only in sats or BTC are converted at the
// close their own row implies.
const usd = body.unit === "usd";
const UNIT = usd ? "USD" : "BTC";
const minus = (a, b) => a === null || b === null ? null : a - b;

// Flows and hash rates of the tip's day (week, month) are so far, not a drop: their charts
// leave that partial period out. Balances are exact at the tip and keep it.
const complete = rows => rows.filter(r => !r.partial);

async function drawExchangeByPool(el) {
  const value = usd ? (r => r.to_exchange_usd) : (r => toBtc(r.to_exchange));
  const pools = await topPools();
  const all = complete(await minerSeries("all"));
  const x = all.map(r => daySeconds(r.day));
  const named = {};
  const rest = all.map(value);
  for (const p of pools) {
    const rows = complete(await minerSeries(p.entity));
    named[p.name] = rows.map(value);
    rows.forEach((r, i) => { rest[i] = minus(rest[i], value(r)); });
  }
  if (rest.some(v => v !== null && Math.abs(v) > 1e-9)) named["other"] = rest;
  plot(el, x, named, {unit: UNIT, colours: await poolPalette(), bars: true,
                      note: "No miner coin has reached an exchange yet."});
}

// An exchange's part of a day's flows in the unit asked for: to_exchange_by is in sats only,
// and its parts add up to to_exchange, whose USD value the row carries.
function exchangeValue(r, name) {
  const sats = r.to_exchange_by[name] || 0;
  if (!usd) return toBtc(sats);
  if (r.to_exchange_usd === null || r.to_exchange_usd === undefined) return null;
  return r.to_exchange ? r.to_exchange_usd * sats / r.to_exchange : 0;
}

async function drawExchangeByExchange(el) {
  const all = complete(await minerSeries("all"));
  const totals = new Map();
  for (const r of all) {
    for (const [name, v] of Object.entries(r.to_exchange_by)) {
      totals.set(name, (totals.get(name) || 0) + v);
    }
  }
  const names = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a)).slice(0, TOP);
  const named = {};
  for (const name of names) named[name] = all.map(r => exchangeValue(r, name));
  plot(el, all.map(r => daySeconds(r.day)), named, {unit: UNIT, bars: true,
       note: "No miner coin has reached an exchange yet."});
}

// The 30-day change in the unit asked for: BTC from sats, or USD at the day's close.
function netValue(r) {
  const sats = r.net_position_change_30d;
  if (sats === null || sats === undefined) return null;
  return usd ? r.net_position_change_30d_usd : toBtc(sats);
}

async function drawNetPosition(el) {
  const rows = await minerSeries("all", {derived: "true"});
  plot(el, rows.map(r => daySeconds(r.day)),
       {"net position change, 30 d": rows.map(netValue)},
       {unit: UNIT, note: `The 30-day change needs 30 days of history; the chain has ` +
        `${rows.length} day${rows.length === 1 ? "" : "s"}.`});
}

// SPEC 5.2: the balance over the supply issued to the day's last block, in percent.
async function drawSupplyShare(el) {
  const rows = await minerSeries("all");
  plot(el, rows.map(r => daySeconds(r.day)),
       {"all miners": rows.map(r => 100 * r.balance_share_of_supply)},
       {format: v => v === null || v === undefined ? "–" : `${Number(v).toFixed(2)} %`});
}

// SPEC 5.1: exchanges of every coin, from /v1/exchanges and their series. The largest
// exchanges by balance at the tip get their own layer or bars; the rest is "other".
async function largestExchanges() {
  const body = await fetchJson("/v1/exchanges?limit=10000");
  const listed = body.data.filter(x => x.slug !== "all");
  return listed.filter(x => x.balance > 0).sort((a, b) => b.balance - a.balance).slice(0, TOP);
}

async function exchangeSeries(slug) {
  return allRows(`/v1/exchanges/${encodeURIComponent(slug)}/series`,
                 {interval: "day", ...windowSince()});
}

async function drawExchangeBalance(el) {
  const all = await exchangeSeries("all");
  const x = all.map(r => daySeconds(r.day));
  const named = {};
  const rest = all.map(r => toBtc(r.balance));
  for (const e of await largestExchanges()) {
    const rows = await exchangeSeries(e.slug);
    named[e.name] = rows.map(r => toBtc(r.balance));
    rows.forEach((r, i) => { rest[i] = minus(rest[i], toBtc(r.balance)); });
  }
  // `all` is one entity, so its balance is the sum of the exchanges' balances
  if (rest.some(v => v !== null && Math.abs(v) > 1e-9)) named["other"] = rest;
  plot(el, x, named, {stacked: true, unit: "BTC", note: "No exchange holds coins yet."});
}

// Daily netflow as bars: inflow up, outflow down, for all exchanges as one entity and the
// largest ones.
async function drawExchangeNetflow(el) {
  const all = complete(await exchangeSeries("all"));
  const named = {"all exchanges": all.map(r => toBtc(r.netflow))};
  for (const e of (await largestExchanges()).slice(0, 3)) {
    named[e.name] = complete(await exchangeSeries(e.slug)).map(r => toBtc(r.netflow));
  }
  plot(el, all.map(r => daySeconds(r.day)), named,
       {unit: "BTC", bars: true, note: "No complete day yet."});
}

async function drawPoolHashrate(el) {
  const window_ = body.window || "1w";
  const pools = (await fetchJson(`/v1/pools?window=${encodeURIComponent(window_)}`)).data
    .slice(0, TOP - 1);
  const params = windowSince();
  const named = {};
  let x = [];
  for (const p of pools) {
    const rows = complete(await allRows(`/v1/pools/${encodeURIComponent(p.slug)}/hashrate`,
                                        params));
    x = rows.map(r => daySeconds(r.day));
    named[p.name] = rows.map(r => r.hashrate_7d);
  }
  plot(el, x, named, {format: siRate, colours: await poolPalette()});
}

async function drawNetwork(el) {
  const rows = complete(await allRows("/v1/network/series", {interval: "day",
                                                             ...windowSince()}));
  plot(el, rows.map(r => daySeconds(r.day)),
       {"hash rate": rows.map(r => r.hashrate), "difficulty": rows.map(r => r.difficulty)},
       {format: siRate, right: {names: ["difficulty"], format: v => v === null ? "–" :
         Number(v).toPrecision(4)}});
}

async function drawPool(el) {
  const rows = complete(await allRows(`/v1/pools/${encodeURIComponent(body.pool)}/hashrate`,
                                      {}));
  plot(el, rows.map(r => daySeconds(r.day)),
       {"daily": rows.map(r => r.hashrate), "7-day mean": rows.map(r => r.hashrate_7d)},
       {format: siRate});
}

async function drawPoolBalance(el) {
  const series = extra => allRows("/v1/miners/series",
                                  {entity: body.pool, interval: "day", ...extra});
  const [zero, one] = [await series({level: "0"}), await series({level: "1"})];
  plot(el, one.map(r => daySeconds(r.day)),
       {"level 0": zero.map(r => toBtc(r.balance)), "level 1": one.map(r => toBtc(r.balance))},
       {unit: "BTC", note: "This pool's coinbases have paid no script yet."});
}

async function drawPoolFlows(el) {
  const rows = complete(await allRows("/v1/miners/series",
                                      {entity: body.pool, level: "1", interval: "day"}));
  plot(el, rows.map(r => daySeconds(r.day)),
       {"outflow": rows.map(r => toBtc(r.outflow)),
        "to exchanges": rows.map(r => toBtc(r.to_exchange))},
       {unit: "BTC", bars: true, note: "No complete day yet."});
}

// SPEC 5.3: what the pool sent to exchanges each day, stacked by how long it had held the
// coins (level 1).
const AGE_BUCKETS = [["lt_1d", "< 1 day"], ["1d_1w", "1 day – 1 week"],
                     ["1w_1m", "1 week – 1 month"], ["1m_1y", "1 month – 1 year"],
                     ["ge_1y", "≥ 1 year"]];

async function drawPoolAges(el) {
  const rows = complete(await allRows("/v1/miners/series",
                                      {entity: body.pool, level: "1", interval: "day"}));
  const named = {};
  for (const [key, label] of AGE_BUCKETS) {
    named[label] = rows.map(r => toBtc(r.to_exchange_by_age[key]));
  }
  plot(el, rows.map(r => daySeconds(r.day)), named,
       {unit: "BTC", bars: true, stacked: true,
        note: rows.some(r => r.to_exchange) ? null : "Nothing sent to exchanges yet."});
}

const CHARTS = {
  "balance": drawBalance, "exchange-pool": drawExchangeByPool,
  "exchange-by": drawExchangeByExchange, "netpos": drawNetPosition,
  "supply-share": drawSupplyShare, "exchange-balance": drawExchangeBalance,
  "exchange-netflow": drawExchangeNetflow,
  "pool-hashrate": drawPoolHashrate, "network": drawNetwork, "pool": drawPool,
  "pool-balance": drawPoolBalance, "pool-flows": drawPoolFlows, "pool-ages": drawPoolAges,
};

function autoSubmit() {
  const form = document.getElementById("controls");
  if (!form) return;
  for (const select of form.querySelectorAll("select")) {
    select.addEventListener("change", () => {
      if (form.dataset.sent) return;  // one navigation per change, never two racing
      form.dataset.sent = "1";
      form.submit();
    });
  }
}

autoSubmit();
for (const el of document.querySelectorAll("[data-chart]")) {
  CHARTS[el.dataset.chart](el).catch(error => {
    el.dataset.ready = "error";
    console.error(`chart ${el.id}: ${error.message}`);
  });
}
