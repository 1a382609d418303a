// dtrain live page: folds the coordinator's Server-Sent Events (/live/feed) into one state object and
// redraws at most five times a second. window.dtrainLive exposes that state (tests, the console).
/* global uPlot */
'use strict';

const COLORS = ['#1565c0', '#c62828', '#2e7d32', '#6a1b9a', '#ef6c00', '#00838f', '#5d4037', '#ad1457'];
const SPLIT_WINDOW = 20;
const RATE_WINDOW = 5;

const live = {
  job: '', jobId: '', state: 'connecting', connected: false,
  steps: [], validations: [], rankSteps: [], events: [], worlds: [],
};
window.dtrainLive = live;

const $ = (id) => document.getElementById(id);
const fmt = (v, digits = 4) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));
const int = (v) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : Math.round(v).toLocaleString('en-US'));
const clock = (iso) => new Date(iso).toLocaleTimeString('en-GB', { hour12: false });

function apply(msg) {
  switch (msg.type) {
    case 'snapshot':
      Object.assign(live, msg.snapshot);
      break;
    case 'step': live.steps.push(msg.point); break;
    case 'ranks':
      live.rankSteps.push(msg.point);
      if (live.rankSteps.length > 600) live.rankSteps.shift();
      break;
    case 'validation': live.validations.push(msg.validation); break;
    case 'event': live.events.push(msg.event); break;
    case 'world': live.worlds.push(msg.change); break;
    case 'state': live.state = msg.state; break;
  }
  scheduleRender();
}

// --- derived structure: worlds, lost ranks, stragglers, checkpoints --------------------------------

// Generations come from the coordinator's world changes (formed / lost / joined); the ranks' hosts
// and pids from the matching 'world-formed' event. A loss belongs to the generation it ended.
function worlds() {
  const out = new Map();
  const formedEvents = new Map(live.events.filter((e) => e.kind === 'world-formed').map((e) => [e.generation, e]));
  const get = (g, time) => {
    if (!out.has(g)) out.set(g, { generation: g, time, worldSize: 0, members: [], lost: [], joined: [] });
    return out.get(g);
  };
  for (const c of live.worlds) {
    const w = get(c.generation, c.time);
    if (c.kind === 'formed') {
      w.time = c.time;
      w.worldSize = c.worldSize;
      const e = formedEvents.get(c.generation);
      w.members = e && Array.isArray(e.data.members) ? e.data.members
        : Array.from({ length: c.worldSize }, (_, rank) => ({ rank }));
    } else if (c.kind === 'lost') {
      w.lost.push({ rank: c.rank, workerId: c.workerId, reason: c.reason, time: c.time });
    } else if (c.kind === 'joined') {
      w.joined.push({ rank: c.rank, workerId: c.workerId, time: c.time });
    }
  }
  return [...out.values()].filter((w) => w.worldSize > 0 || w.lost.length || w.joined.length)
    .sort((a, b) => a.generation - b.generation);
}

function stragglers() {
  const byRank = new Map();
  for (const e of live.events) if (e.kind === 'straggler') byRank.set(e.data.rank, e);
  return [...byRank.values()].filter((e) => e.data.flagged);
}

// --- charts ----------------------------------------------------------------------------------------

const charts = {};

function chart(id, series, data, opts = {}) {
  const el = $(id);
  const width = Math.max(300, el.clientWidth);
  const key = series.map((s) => s.label).join('|');
  let c = charts[id];
  if (c && (c.key !== key || Math.abs(c.width - width) > 20)) { c.plot.destroy(); c = null; }
  if (!c) {
    const plot = new uPlot({
      width, height: 220, series: [{ label: opts.xLabel || 'step' }, ...series],
      scales: { x: { time: false }, ...(opts.yRange ? { y: { range: opts.yRange } } : {}) },
      axes: [{ label: opts.xLabel || 'step', ...(opts.wholeX ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] } : {}) },
        { label: opts.yLabel || '' }],
      legend: { live: true },
    }, data, el);
    c = charts[id] = { plot, key, width };
  } else {
    c.plot.setData(data);
  }
}

function renderLoss() {
  const xs = live.steps.map((p) => p.step);
  const train = live.steps.map((p) => p.loss);
  const val = xs.map(() => null);
  const extraX = [];
  for (const v of live.validations) {
    const i = xs.indexOf(v.globalStep);
    if (i >= 0) val[i] = v.loss; else extraX.push(v);
  }
  // Validation after a step the curve does not hold (thinned history): add its own x.
  for (const v of extraX) { xs.push(v.globalStep); train.push(null); val.push(v.loss); }
  const order = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b]);
  chart('loss-chart', [
    { label: 'training loss', stroke: COLORS[0], width: 1.5, spanGaps: true, points: { show: false } },
    { label: 'validation loss', stroke: COLORS[1], width: 2, spanGaps: true, points: { show: true, size: 7 } },
  ], [order.map((i) => xs[i]), order.map((i) => train[i]), order.map((i) => val[i])], { yLabel: 'loss' });
  $('loss-chart').dataset.points = String(live.steps.length);
  $('loss-chart').dataset.validationPoints = String(live.validations.length);
}

function renderValidation() {
  const v = live.validations;
  const hasAcc = v.some((x) => x.accuracy !== undefined && x.accuracy !== null);
  const series = hasAcc
    ? [{ label: 'accuracy %', stroke: COLORS[2], width: 2, points: { show: true, size: 7 } }]
    : [{ label: 'mse', stroke: COLORS[3], width: 2, points: { show: true, size: 7 } },
      { label: 'mae', stroke: COLORS[4], width: 2, points: { show: true, size: 7 } }];
  const data = hasAcc
    ? [v.map((x) => x.epoch), v.map((x) => 100 * x.accuracy)]
    : [v.map((x) => x.epoch), v.map((x) => x.mse ?? null), v.map((x) => x.mae ?? null)];
  $('val-metric').textContent = hasAcc ? 'held-out accuracy per epoch' : 'held-out error per epoch';
  chart('val-chart', series, data, {
    xLabel: 'epoch', wholeX: true, yLabel: hasAcc ? 'accuracy %' : 'error', yRange: hasAcc ? [0, 100] : undefined,
  });
  $('val-chart').dataset.points = String(v.length);
}

function renderRanks() {
  const ranks = [...new Set(live.rankSteps.flatMap((p) => p.ranks.map((r) => r.rank)))].sort((a, b) => a - b);
  const xs = live.rankSteps.map((p) => p.step);
  const perRank = ranks.map((rank) => {
    const raw = live.rankSteps.map((p) => p.ranks.find((r) => r.rank === rank)?.samplesPerSec ?? null);
    return raw.map((_, i) => {
      const w = raw.slice(Math.max(0, i - RATE_WINDOW + 1), i + 1).filter((x) => x !== null);
      return w.length ? w.reduce((a, b) => a + b, 0) / w.length : null;
    });
  });
  chart('rank-chart', ranks.map((r, i) => ({ label: `rank ${r}`, stroke: COLORS[i % COLORS.length], width: 1.5 })),
    [xs, ...perRank], { yLabel: 'samples/s' });
  $('rank-chart').dataset.ranks = String(ranks.length);

  const recent = live.rankSteps.slice(-SPLIT_WINDOW);
  const rows = ranks.map((rank) => {
    const mine = recent.flatMap((p) => p.ranks.filter((r) => r.rank === rank));
    const mean = (f) => (mine.length ? mine.reduce((a, r) => a + f(r), 0) / mine.length : 0);
    return { rank, compute: mean((r) => r.computeSeconds), allreduce: mean((r) => r.allreduceSeconds), step: mean((r) => r.stepSeconds) };
  });
  const longest = Math.max(1e-9, ...rows.map((r) => Math.max(r.step, r.compute + r.allreduce)));
  $('split').innerHTML = rows.map((r) => {
    const other = Math.max(0, r.step - r.compute - r.allreduce);
    const pct = (x) => `${(100 * x / longest).toFixed(1)}%`;
    return `<div class="row" data-rank="${r.rank}"><span>rank ${r.rank}</span>` +
      `<span class="bar"><i class="compute" style="width:${pct(r.compute)}" title="compute ${(1000 * r.compute).toFixed(1)} ms"></i>` +
      `<i class="allreduce" style="width:${pct(r.allreduce)}" title="all-reduce ${(1000 * r.allreduce).toFixed(1)} ms"></i>` +
      `<i class="other" style="width:${pct(other)}"></i></span>` +
      `<span class="num">${(1000 * r.compute).toFixed(1)} + ${(1000 * r.allreduce).toFixed(1)} / ${(1000 * r.step).toFixed(1)} ms</span></div>`;
  }).join('') || '<p class="none">no steps yet</p>';
}

function renderRing() {
  const ws = worlds();
  const formed = ws.filter((w) => w.worldSize > 0);
  const current = formed[formed.length - 1];
  const svg = $('ring');
  const flagged = new Set(stragglers().map((e) => e.data.rank));
  if (!current) {
    svg.innerHTML = '<text x="160" y="120">waiting for workers to join…</text>';
  } else {
    const n = current.members.length;
    const lost = new Set(current.lost.map((l) => l.rank));
    const pos = (i) => {
      const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
      return [160 + 75 * Math.cos(a), 112 + 75 * Math.sin(a)];
    };
    let out = '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto">' +
      '<path d="M0,0 L10,5 L0,10 z" fill="#999"/></marker></defs>';
    if (n > 1) {
      for (let i = 0; i < n; i++) {
        const [x1, y1] = pos(i);
        const [x2, y2] = pos((i + 1) % n);
        const d = Math.hypot(x2 - x1, y2 - y1) || 1;
        const k = 24 / d;
        const [ax, ay, bx, by] = [x1 + (x2 - x1) * k, y1 + (y2 - y1) * k, x2 - (x2 - x1) * k, y2 - (y2 - y1) * k];
        // Bend each edge to its right, so the two directions of a 2-rank ring do not overlap.
        const [mx, my] = [(ax + bx) / 2 - (by - ay) * 0.2, (ay + by) / 2 + (bx - ax) * 0.2];
        out += `<path class="edge" d="M${ax},${ay} Q${mx},${my} ${bx},${by}"/>`;
      }
    }
    current.members.forEach((m, i) => {
      const [x, y] = pos(i);
      const state = lost.has(m.rank) ? 'lost' : flagged.has(m.rank) ? 'straggler' : 'ok';
      out += `<g class="node rank" data-rank="${m.rank}" data-state="${state}"><circle cx="${x}" cy="${y}" r="22"/>` +
        `<text x="${x}" y="${y + 4}">rank ${m.rank}</text>` +
        `<text x="${x}" y="${y + 36}" fill="#666">${escapeHtml(m.hostname ? `${m.hostname} pid ${m.pid}` : '')}</text>` +
        (state === 'lost' ? `<text x="${x}" y="${y - 27}" fill="#c62828">lost</text>` : '') + '</g>';
    });
    svg.innerHTML = out;
  }
  $('generations').innerHTML = ws.map((w) => {
    const lost = w.lost.map((l) => `<span class="lost" data-rank="${l.rank}">lost rank ${l.rank}` +
      `${l.workerId ? ` (${escapeHtml(l.workerId)})` : ''} at ${clock(l.time)}: ${escapeHtml(String(l.reason))}</span>`);
    const joined = w.joined.map((j) => `<span class="joined">joined ${escapeHtml(String(j.workerId ?? ''))}` +
      ` at ${clock(j.time)}</span>`);
    const head = w.worldSize > 0 ? `generation ${w.generation}: ${w.worldSize} ranks, formed ${clock(w.time)}`
      : `generation ${w.generation}`;
    const rest = [...lost, ...joined].join('; ');
    return `<li value="${w.generation}" data-generation="${w.generation}" data-lost="${w.lost.length}" ` +
      `data-joined="${w.joined.length}">${head}${rest ? ` — ${rest}` : ''}</li>`;
  }).join('');
  $('generation').textContent = current ? String(current.generation) : '–';
}

function renderLists() {
  const s = stragglers();
  $('stragglers').innerHTML = s.length
    ? s.map((e) => `<li data-rank="${e.data.rank}">rank ${e.data.rank}: compute ${fmt(e.data.ratio, 2)}× ` +
      'the other ranks\' median</li>').join('')
    : '<li class="none">none flagged</li>';
  const cps = live.events.filter((e) => e.kind === 'checkpoint-written');
  $('checkpoints').innerHTML = cps.length
    ? cps.slice(-10).reverse()
      .map((e) => `<li>step ${e.data.globalStep} · ${clock(e.time)} · ${escapeHtml(String(e.data.path))}</li>`).join('')
    : '<li class="none">none yet</li>';
  const rows = live.events.slice(-200).reverse().map((e) => {
    const { jobId, members, ...rest } = e.data;
    const details = members
      ? `${members.length} ranks: ${members.map((m) => `${m.rank}=${m.hostname} pid ${m.pid}`).join(', ')}`
      : summarize(rest);
    return `<tr data-kind="${e.kind}"><td>${clock(e.time)}</td><td>${e.generation}</td><td>${e.kind}</td>` +
      `<td class="details">${escapeHtml(details)}</td></tr>`;
  });
  $('events').tBodies[0].innerHTML = rows.join('');
}

function summarize(data) {
  const show = (v) => (typeof v === 'number' ? +v.toPrecision(5) : typeof v === 'object' ? JSON.stringify(v) : v);
  return Object.entries(data).map(([k, v]) => `${k}: ${show(v)}`).join(', ');
}

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function renderHeader() {
  $('job').textContent = live.jobId || live.job;
  document.title = `dtrain live · ${live.job}`;
  $('state').textContent = live.state;
  $('state').className = `badge ${live.state}`;
  document.body.dataset.state = live.state;
  const last = live.steps[live.steps.length - 1];
  $('step').textContent = last ? `${last.step} / ${last.totalSteps}` : '–';
  $('epoch').textContent = last ? `${last.epoch} / ${last.epochs}` : '–';
  $('loss').textContent = last ? fmt(last.loss) : '–';
  $('sps').textContent = last ? int(last.samplesPerSec) : '–';
  $('avg-sps').textContent = last ? int(last.avgSamplesPerSec) : '–';
  $('connection').textContent = live.connected ? 'live' : 'disconnected';
  $('connection').className = `badge ${live.connected ? 'live' : 'lost'}`;
}

let renderTimer = null;
function scheduleRender() {
  if (renderTimer) return;
  renderTimer = setTimeout(() => {
    renderTimer = null;
    renderHeader();
    renderLoss();
    renderValidation();
    renderRanks();
    renderRing();
    renderLists();
    live.renders = (live.renders || 0) + 1;
  }, 200);
}

const source = new EventSource('/live/feed');
source.onopen = () => { live.connected = true; scheduleRender(); };
source.onerror = () => { live.connected = false; scheduleRender(); };
source.onmessage = (e) => apply(JSON.parse(e.data));
window.addEventListener('resize', scheduleRender);
