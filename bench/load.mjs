// Load and memory runs against the real binary on loopback (hardening issue):
//
//   node bench/load.mjs load   [--clients 1000] [--seconds 60] [--model PATH]
//   node bench/load.mjs aborts [--rounds 8] [--streams 200] [--model PATH]
//
// load: N concurrent clients, each from its own loopback address
// (127.0.x.y: the server's per-address limit applies to each, as it would to
// real clients), each keeping one connection alive and sending a mix of
// requests for the given time: health checks, model lists, chats (whole and
// streamed) with an assistant, management reads, the public widget, and
// requests without a key. It reports requests per status and per route, every
// refusal that is not a 429 or 503 (and the expected 401s), connection errors,
// the latency of /healthz (p50, p99) and the server's RSS over the run.
//
// aborts: rounds of S streams that the client abandons at a random moment
// (each with a prompt of its own, so that the prompt cache fills); after each
// round, once the slots are free, the server's RSS beside the bounded caches
// (prompt cache, vector cache) from /metrics: memory other than the caches
// must come back to a plateau.
//
// Both start their own server (BIN: $LAIR_BUILD/libreair, default build/) on
// a free loopback port with a fresh data directory, and stop it at the end.
import http from 'node:http';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUILD = process.env.LAIR_BUILD || join(SRC, 'build');
const BIN = join(BUILD, 'libreair');

function parseArgs(argv) {
  const o = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) o[argv[i].slice(2)] = argv[++i];
    else o._.push(argv[i]);
  }
  return o;
}

const o = parseArgs(process.argv.slice(2));
const mode = o._[0] || 'load';
const MODEL = o.model || join(SRC, '..', 'shared', 'models', 'stories260K.gguf');

function rssOf(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) * 1024 : NaN;
}

async function startServer(args) {
  const dir = mkdtempSync(join(tmpdir(), 'lair-load-'));
  const data = join(dir, 'data');
  const key = execFileSync(BIN, ['init', '--data', data], { encoding: 'utf8' }).trim().split('\n').pop();
  const proc = spawn(BIN, ['serve', '--data', data, '--listen', '127.0.0.1:0', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  proc.stderr.on('data', (d) => { err += d; if (err.length > 1e6) err = err.slice(-5e5); });
  const url = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`not ready: ${err}`)), 120000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\S+)/);
      if (m && /^libreair: ready/m.test(out)) { clearTimeout(t); resolve(m[1]); }
    });
    proc.on('exit', (c) => { clearTimeout(t); reject(new Error(`exited ${c}: ${err}`)); });
  });
  const stop = async () => {
    if (proc.exitCode === null) {
      const done = new Promise((r) => proc.on('exit', r));
      proc.kill('SIGTERM');
      await done;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { url, key, proc, stop, err: () => err };
}

// One request; resolves {status, ms, body} or {error}.
function request(url, { method = 'GET', headers = {}, body, agent, abortAfterMs } = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const data = body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body));
    const h = { ...headers };
    if (data !== undefined) {
      h['Content-Type'] = 'application/json';
      h['Content-Length'] = Buffer.byteLength(data);
    }
    const req = http.request(url, { method, headers: h, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - t0, body: text }));
      res.on('error', (e) => resolve({ error: e.code || e.message, ms: performance.now() - t0 }));
    });
    req.on('error', (e) => resolve({ error: e.code || e.message, ms: performance.now() - t0 }));
    if (abortAfterMs !== undefined) setTimeout(() => { req.destroy(); resolve({ aborted: true }); }, abortAfterMs);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

async function setup(srv) {
  const op = { Authorization: `Bearer ${srv.key}` };
  const t = await request(`${srv.url}/api/v1/tenants`, { method: 'POST', headers: op, body: { admin_key: true, slug: 'ville', name: 'Ville' } });
  const admin = JSON.parse(t.body).admin_key;
  const auth = { Authorization: `Bearer ${admin}` };
  const a = await request(`${srv.url}/api/v1/assistants`, {
    method: 'POST', headers: auth,
    body: { slug: 'accueil', model: 'default', instructions: 'Once upon a time', visibility: 'public',
      allowed_origins: ['http://127.0.0.1:9'], params: { max_tokens: 16 } },
  });
  if (a.status !== 201) throw new Error(`assistant: ${a.status} ${a.body}`);
  await request(`${srv.url}/api/v1/assistants/accueil/publish`, { method: 'POST', headers: auth, body: {} });
  return { admin, auth };
}

function pct(v, p) {
  if (!v.length) return NaN;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

function metricValue(text, name) {
  let sum = 0, found = false;
  for (const l of text.split('\n'))
    if (l.startsWith(name + ' ') || l.startsWith(name + '{')) { sum += Number(l.split(' ').pop()); found = true; }
  return found ? sum : NaN;
}

async function load() {
  const clients = Number(o.clients || 1000), seconds = Number(o.seconds || 60);
  const srv = await startServer(['--model', `default=${MODEL}`, '--slots', '4', '--ctx', '512', '--threads', '2']);
  const { auth } = await setup(srv);
  const routes = [
    ['healthz', 10, () => ({ path: '/healthz' })],
    ['models', 20, () => ({ path: '/v1/models', headers: auth })],
    ['chat', 12, () => ({ path: '/v1/chat/completions', method: 'POST', headers: auth,
      body: { model: 'accueil', max_tokens: 8, messages: [{ role: 'user', content: 'Lily went' }] } })],
    ['chat_stream', 8, () => ({ path: '/v1/chat/completions', method: 'POST', headers: auth,
      body: { model: 'accueil', max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'Tom saw' }] } })],
    ['assistants', 15, () => ({ path: '/api/v1/assistants', headers: auth })],
    ['no_key', 10, () => ({ path: '/v1/models' })],
    ['widget_info', 10, () => ({ path: '/public/v1/assistants/ville.accueil', headers: { Origin: 'http://127.0.0.1:9' } })],
    ['widget_chat', 5, () => ({ path: '/public/v1/assistants/ville.accueil/chat', method: 'POST',
      headers: { Origin: 'http://127.0.0.1:9' }, body: { stream: false, messages: [{ role: 'user', content: 'Sam' }] } })],
  ];
  const total = routes.reduce((s, r) => s + r[1], 0);
  const pick = () => {
    let x = Math.random() * total;
    for (const r of routes) if ((x -= r[1]) < 0) return r;
    return routes[0];
  };
  const byRoute = {}, errors = {}, unexpected = {};
  const health = [];
  const rss = [];
  const end = Date.now() + seconds * 1000;
  const sampler = setInterval(() => { try { rss.push(rssOf(srv.proc.pid)); } catch { /* exited */ } }, 1000);
  let done = 0;
  const client = async (i) => {
    const localAddress = `127.${1 + Math.floor(i / 250)}.0.${(i % 250) + 1}`;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress });
    while (Date.now() < end) {
      const [name, , make] = pick();
      const r = make();
      const res = await request(srv.url + r.path, { method: r.method, headers: r.headers, body: r.body, agent });
      const st = byRoute[name] ||= {};
      const k = res.error ? `error:${res.error}` : String(res.status);
      st[k] = (st[k] || 0) + 1;
      done++;
      if (res.error) errors[res.error] = (errors[res.error] || 0) + 1;
      else if (res.status >= 400 && res.status !== 429 && res.status !== 503 && !(name === 'no_key' && res.status === 401))
        unexpected[`${name} ${res.status}`] = (unexpected[`${name} ${res.status}`] || 0) + 1;
      if (name === 'healthz' && res.status === 200) health.push(res.ms);
    }
    agent.destroy();
  };
  const t0 = Date.now();
  await Promise.all([...Array(clients).keys()].map(client));
  clearInterval(sampler);
  const elapsed = (Date.now() - t0) / 1000;
  const m = await request(`${srv.url}/metrics`);
  await srv.stop();
  const summary = {
    mode: 'load', clients, seconds: elapsed, requests: done, rps: Math.round(done / elapsed),
    by_route: byRoute, connection_errors: errors, refusals_other_than_429_503: unexpected,
    healthz_ms: { n: health.length, p50: pct(health, 0.5), p99: pct(health, 0.99), max: Math.max(...health) },
    rss_mib: { start: rss[0] / 2 ** 20, max: Math.max(...rss) / 2 ** 20, end: rss[rss.length - 1] / 2 ** 20 },
    closed_by_server: Object.fromEntries((m.body || '').split('\n')
      .filter((l) => l.startsWith('libreair_http_connections_closed_total'))
      .map((l) => [l.match(/reason="(\w+)"/)[1], Number(l.split(' ').pop())])),
  };
  console.log(JSON.stringify(summary, null, 1));
  return Object.keys(unexpected).length === 0 ? 0 : 1;
}

async function aborts() {
  const rounds = Number(o.rounds || 8), streams = Number(o.streams || 200);
  const srv = await startServer(['--model', `default=${MODEL}`, '--slots', '4', '--ctx', '512', '--threads', '2',
    '--queue', String(streams), '--tenant-raw-models', '--prompt-cache', String(o['prompt-cache'] || 1024)]);
  const { auth } = await setup(srv);
  // one connection per stream, each from its own loopback address (a real
  // crowd; one address would meet the per-client connection limit)
  const agents = [...Array(streams).keys()].map((k) => new http.Agent({ keepAlive: false,
    localAddress: `127.${1 + Math.floor(k / 250)}.0.${(k % 250) + 1}` }));
  const rows = [];
  const statuses = {};
  const metrics = async () => (await request(`${srv.url}/metrics`)).body;
  for (let r = 0; r <= rounds; r++) {
    if (r > 0) {
      const got = await Promise.all([...Array(streams).keys()].map((k) => request(`${srv.url}/v1/chat/completions`, {
        method: 'POST', headers: auth, agent: agents[k], abortAfterMs: Math.random() * 1500,
        body: { model: 'default', stream: true, max_tokens: 200, ignore_eos: true,
          messages: [{ role: 'system', content: `Round ${r}, stream ${k}: ${'Once upon a time, Lily went to the park. '.repeat(20)}` },
            { role: 'user', content: `Tell story ${r * 1000 + k}.` }] },
      })));
      for (const g of got) {
        const k = g.aborted ? 'aborted' : g.error ? `error:${g.error}` : String(g.status);
        statuses[k] = (statuses[k] || 0) + 1;
      }
      // wait until every slot is free and nothing waits
      for (let i = 0; i < 600; i++) {
        const t = await metrics();
        if (metricValue(t, 'libreair_busy_slots') === 0 && metricValue(t, 'libreair_queue_depth') === 0
          && metricValue(t, 'libreair_http_requests_in_flight') <= 1) break;
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    const t = await metrics();
    const rssB = rssOf(srv.proc.pid);
    const pc = metricValue(t, 'libreair_prompt_cache_bytes'), vc = metricValue(t, 'libreair_vector_cache_bytes');
    const reported = metricValue(t, 'libreair_process_resident_memory_bytes');
    rows.push({ round: r, rss_mib: +(rssB / 2 ** 20).toFixed(1), prompt_cache_mib: +(pc / 2 ** 20).toFixed(1),
      vector_cache_mib: +((vc || 0) / 2 ** 20).toFixed(1), other_mib: +((rssB - pc - (vc || 0)) / 2 ** 20).toFixed(1),
      metrics_rss_mib: +(reported / 2 ** 20).toFixed(1) });
    console.error(JSON.stringify(rows[rows.length - 1]));
  }
  await srv.stop();
  const other = rows.slice(1).map((x) => x.other_mib);
  const half = other.slice(Math.floor(other.length / 2));
  const spread = Math.max(...half) - Math.min(...half);
  console.log(JSON.stringify({ mode: 'aborts', rounds, streams, statuses, rows,
    second_half_other_mib: { min: Math.min(...half), max: Math.max(...half), spread } }, null, 1));
  return 0;
}

const rc = await (mode === 'aborts' ? aborts() : load());
process.exit(rc);
