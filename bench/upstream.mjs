// Benchmarks of inference served elsewhere, with the peers side by side in
// one run (issue "Inference anywhere"):
//
//   node bench/upstream.mjs [overhead] [routing] [failover] [memory] [embeddings] [--model M.gguf]
//
// overhead   LibreAIr in front of one llama-server against the same
//            llama-server direct, alternated in ABAB rounds: single-stream and
//            8-stream decode tok/s, and time to first token (p50).
// routing    three llama-servers, three "assistants" (system prompts of
//            ~1,500 tokens), mixed concurrent traffic: time to first token
//            with prefix affinity against least-busy routing, and total
//            throughput.
// failover   three llama-servers under a steady load of 16 streams; one is
//            killed (-9): requests that failed before streaming, streams in
//            flight continued or ended with an explicit error, silent
//            truncations (must be 0).
// memory     1,000 streams held open through the gateway: its RSS. The
//            upstream is a stand-in that streams slowly (a model server cannot
//            hold 1,000 streams on this machine); what is measured is the
//            gateway.
// embeddings LibreAIr's in-process embeddings against llama-server's
//            /v1/embeddings, same model, same threads, same batches.
//
// Every peer is started here on loopback and stopped at the end. Prints one
// markdown table of ratios against the targets, and writes the raw
// figures to bench/out/upstream.json.
import http from 'node:http';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUILD = process.env.LAIR_BUILD || join(SRC, 'build');
const BIN = join(BUILD, 'libreair');
const CACHE = join(process.env.LIBREAIR_CACHE || join(homedir(), '.cache', 'libreair'), 'bench');
const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : def; };
const wanted = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
const runs = wanted.length ? wanted : ['overhead', 'routing', 'failover', 'memory', 'embeddings'];
const THREADS = Number(opt('threads', 1));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (v) => { const s = v.filter((x) => x != null).sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
const dir = mkdtempSync(join(tmpdir(), 'lair-bench-up-'));
const procs = [];

function tools() {
  return execFileSync(join(SRC, 'scripts', 'llama.sh'), ['tools'], { encoding: 'utf8' }).trim().split('\n').pop();
}

function model() {
  if (opt('model')) return opt('model');
  mkdirSync(CACHE, { recursive: true });
  const q8 = join(CACHE, 'qwen2-0.5b-q8_0.gguf');
  if (existsSync(q8)) return q8;
  const m = join(CACHE, 'qwen2-256x4.gguf');
  if (!existsSync(m))
    execFileSync(join(SRC, 'scripts', 'gen-model.sh'), ['tiny-qwen2', m, '-q', '--n-embd', '256', '--n-layer', '4', '--n-ff', '768'],
      { env: { ...process.env, LAIR_BUILD: BUILD }, stdio: 'inherit' });
  return m;
}

let portBase = 30000 + Math.floor(Math.random() * 10000);
const port = () => portBase++;

async function waitHttp(url, proc, what) {
  for (let i = 0; i < 1200; i++) {
    try { if ((await fetch(url)).status === 200) return; } catch { /* not yet */ }
    if (proc.exitCode !== null) throw new Error(`${what} exited`);
    await sleep(100);
  }
  throw new Error(`${what} did not start`);
}

async function llamaServer(m, { slots = 4, ctx = 8192, embedding = false, extra = [] } = {}) {
  const p = port();
  const a = ['-m', m, '--host', '127.0.0.1', '--port', String(p), '-c', String(ctx * slots), '-np', String(slots),
    '-t', String(THREADS), '--no-webui', ...extra];
  if (embedding) a.push('--embedding', '-ub', '2048', '-b', '2048');
  const proc = spawn(join(tools(), 'llama-server'), a, { stdio: ['ignore', 'ignore', 'ignore'] });
  procs.push(proc);
  await waitHttp(`http://127.0.0.1:${p}/health`, proc, 'llama-server');
  return { proc, url: `http://127.0.0.1:${p}` };
}

async function lair(config, extra = []) {
  const data = join(dir, `data-${port()}`);
  const key = execFileSync(BIN, ['init', '--data', data], { encoding: 'utf8' }).trim().split('\n').pop();
  const cfg = join(dir, `config-${port()}.json`);
  writeFileSync(cfg, JSON.stringify(config));
  const p = port();
  const proc = spawn(BIN, ['serve', '--data', data, '--listen', `127.0.0.1:${p}`, '--config', cfg,
    '--threads', String(THREADS), '--max-client-connections', '4000', '--header-timeout', '120', ...extra],
  { stdio: ['ignore', 'ignore', 'ignore'] });
  procs.push(proc);
  await waitHttp(`http://127.0.0.1:${p}/readyz`, proc, 'libreair');
  return { proc, url: `http://127.0.0.1:${p}`, key };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

// One streamed chat; resolves {ttft, tokens, seconds, finish, error, content}.
function stream(base, key, body, { localAddress, onFirst } = {}) {
  return new Promise((resolve) => {
    const data = JSON.stringify({ stream: true, stream_options: { include_usage: true }, temperature: 0, ...body });
    const t0 = performance.now();
    const out = { ttft: null, tokens: 0, finish: null, error: null, content: 0, status: 0 };
    const ag = localAddress ? new http.Agent({ keepAlive: false, localAddress }) : agent;
    const req = http.request(`${base}/v1/chat/completions`, {
      method: 'POST', agent: ag,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data), ...(key ? { Authorization: `Bearer ${key}` } : {}) },
    }, (res) => {
      out.status = res.statusCode;
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, i);
          buf = buf.slice(i + 2);
          for (const line of ev.split('\n')) {
            if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
            let o;
            try { o = JSON.parse(line.slice(6)); } catch { continue; }
            if (o.error) out.error = o.error.code || o.error.message || 'error';
            const c = o.choices?.[0];
            if (c?.delta?.content) {
              if (out.ttft === null) { out.ttft = performance.now() - t0; onFirst?.(); }
              out.content++;
            }
            if (c?.finish_reason) out.finish = c.finish_reason;
            if (o.usage) out.tokens = o.usage.completion_tokens;
          }
        }
      });
      res.on('end', () => { out.seconds = (performance.now() - t0) / 1000; resolve(out); });
      res.on('error', () => { out.error = out.error || 'reset'; resolve(out); });
    });
    req.on('error', (e) => { out.error = e.code || 'error'; resolve(out); });
    req.end(data);
  });
}

const results = {};
const rows = [];
const row = (name, ours, peer, ratio, target, pass) => rows.push({ name, ours, peer, ratio, target, pass });

// ---- overhead ----
async function overhead(m) {
  const ls = await llamaServer(m, { slots: 8, ctx: 2048 });
  const gw = await lair({ models: [{ name: 'm', ctx: 2048, upstreams: [{ url: `${ls.url}/v1`, max_concurrent: 64 }] }] });
  const body = { model: 'm', max_tokens: 128, ignore_eos: true, messages: [{ role: 'user', content: 'Il était une fois' }] };
  const short = { model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'Bonjour, quelle heure est-il ?' }] };
  const sides = { direct: { url: ls.url, key: null }, gateway: { url: gw.url, key: gw.key } };
  for (const s of Object.values(sides)) await stream(s.url, s.key, short); // warm-up
  const r = { single: { direct: [], gateway: [] }, eight: { direct: [], gateway: [] }, ttft: { direct: [], gateway: [] } };
  for (let round = 0; round < 5; round++) {
    const order = round % 2 ? ['gateway', 'direct'] : ['direct', 'gateway'];
    for (const side of [...order, ...order.slice().reverse()]) {
      const s = sides[side];
      const one = await stream(s.url, s.key, body);
      r.single[side].push(one.tokens / one.seconds);
      const t0 = performance.now();
      const many = await Promise.all([...Array(8).keys()].map((k) => stream(s.url, s.key,
        { ...body, messages: [{ role: 'user', content: `Histoire ${k} : il était une fois` }] })));
      r.eight[side].push(many.reduce((n, x) => n + x.tokens, 0) / ((performance.now() - t0) / 1000));
      for (let k = 0; k < 5; k++) r.ttft[side].push((await stream(s.url, s.key, short)).ttft);
    }
  }
  const s1 = median(r.single.gateway) / median(r.single.direct);
  const s8 = median(r.eight.gateway) / median(r.eight.direct);
  const dt = median(r.ttft.gateway) - median(r.ttft.direct);
  results.overhead = r;
  row('single-stream tok/s, gateway / direct llama-server', median(r.single.gateway).toFixed(1), median(r.single.direct).toFixed(1), s1.toFixed(3), '≥ 0.98', s1 >= 0.98);
  row('8-stream total tok/s, gateway / direct', median(r.eight.gateway).toFixed(1), median(r.eight.direct).toFixed(1), s8.toFixed(3), '≥ 0.98', s8 >= 0.98);
  row('time to first token p50 (ms), added by the gateway', median(r.ttft.gateway).toFixed(2), median(r.ttft.direct).toFixed(2), `+${dt.toFixed(2)} ms`, '≤ +2 ms', dt <= 2);
  gw.proc.kill('SIGTERM');
  ls.proc.kill('SIGKILL');
}

// ---- routing ----
function systemPrompt(seed) {
  return execFileSync('node', [join(SRC, 'bench', 'client.mjs'), 'system-prompt', '--seed', String(seed), '--system-tokens', '1500'],
    { encoding: 'utf8' });
}

// One routing scenario: n_assistants system prompts over three llama-servers
// (server: slots and extra flags), six clients sending mixed requests, once
// with prefix affinity and once least busy; the servers are restarted
// between the two so that neither inherits the other's caches.
async function routingCase(m, nAssistants, server, nClients = 6) {
  const prompts = [...Array(nAssistants).keys()].map((k) => systemPrompt(k + 1));
  const out = {};
  for (const mode of ['affinity', 'least_busy']) {
    const servers = [];
    for (let i = 0; i < 3; i++) servers.push(await llamaServer(m, { ctx: 4096, ...server }));
    const gw = await lair({ models: [{ name: 'm', ctx: 4096, routing: mode,
      upstreams: servers.map((s) => ({ url: `${s.url}/v1`, max_concurrent: server.slots })) }] });
    const ttft = [];
    let tokens = 0;
    const t0 = performance.now();
    await Promise.all([...Array(nClients).keys()].map(async (c) => {
      for (let k = 0; k < 8; k++) {
        const a = (c * 7 + k * 5) % nAssistants;
        const r = await stream(gw.url, gw.key, { model: 'm', max_tokens: 16, ignore_eos: true, user: `c${c}-${k}`,
          messages: [{ role: 'system', content: prompts[a] }, { role: 'user', content: `Question ${c}-${k} ${mode}` }] });
        if (r.ttft != null) ttft.push(r.ttft);
        tokens += r.tokens;
      }
    }));
    out[mode] = { ttft_p50_ms: median(ttft), tok_s: tokens / ((performance.now() - t0) / 1000), n: ttft.length };
    gw.proc.kill('SIGTERM');
    for (const s of servers) s.proc.kill('SIGKILL');
    await sleep(500);
  }
  return out;
}

async function routing(m) {
  // A: three assistants, llama-server at its defaults (4 slots each and its
  //    host-memory prompt cache): every server can keep every prefix.
  // B: six assistants, servers that keep few prefixes (2 slots, no host
  //    prompt cache), as a GPU server's KV cache does under many prefixes.
  // C: B with half the clients, so that time to first token is not mostly
  //    waiting for the two CPUs three servers share here.
  const cases = {
    'A: 3 assistants, llama-server defaults (4 slots, --cache-ram)': await routingCase(m, 3, { slots: 4 }),
    'B: 6 assistants, 2 slots and --cache-ram 0 per server': await routingCase(m, 6, { slots: 2, extra: ['--cache-ram', '0'] }),
    'C: as B, 3 clients (the CPUs not saturated)': await routingCase(m, 6, { slots: 2, extra: ['--cache-ram', '0'] }, 3),
  };
  results.routing = cases;
  for (const [name, out] of Object.entries(cases)) {
    const r1 = out.affinity.ttft_p50_ms / out.least_busy.ttft_p50_ms;
    const r2 = out.affinity.tok_s / out.least_busy.tok_s;
    row(`TTFT p50 (ms), affinity / least busy — ${name}`, out.affinity.ttft_p50_ms.toFixed(0), out.least_busy.ttft_p50_ms.toFixed(0), r1.toFixed(3), '≤ 0.5', r1 <= 0.5);
    row(`total tok/s, affinity / least busy — ${name}`, out.affinity.tok_s.toFixed(1), out.least_busy.tok_s.toFixed(1), r2.toFixed(3), '≥ 1.0', r2 >= 1.0);
  }
}

// ---- failover ----
async function failover(m) {
  const servers = [];
  for (let i = 0; i < 3; i++) servers.push(await llamaServer(m, { slots: 8, ctx: 1024 }));
  const gw = await lair({ models: [{ name: 'm', ctx: 1024, health_interval_s: 1,
    upstreams: servers.map((s) => ({ url: `${s.url}/v1`, max_concurrent: 8, first_byte_timeout_ms: 10000, idle_timeout_ms: 5000 })) }] });
  const stats = { requests: 0, ok: 0, failed_before_streaming: 0, ended_with_error: 0, silent_truncation: 0 };
  let stop = false;
  const end = Date.now() + 20000;
  const client = async (c) => {
    for (let k = 0; !stop && Date.now() < end; k++) {
      const r = await stream(gw.url, gw.key, { model: 'm', max_tokens: 64, ignore_eos: true, user: `f${c}`,
        messages: [{ role: 'user', content: `Histoire ${c}-${k}` }] });
      stats.requests++;
      if (r.finish && !r.error) stats.ok++;
      else if (r.content === 0) stats.failed_before_streaming++;
      else if (r.error) stats.ended_with_error++;
      else stats.silent_truncation++;
    }
  };
  const clients = Promise.all([...Array(16).keys()].map(client));
  await sleep(5000);
  servers[0].proc.kill('SIGKILL');
  await clients;
  const mtext = await (await fetch(`${gw.url}/metrics`)).text();
  const sum = (name) => mtext.split('\n').filter((l) => l.startsWith(name + '{')).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  stats.continued = sum('libreair_upstream_continuations_total');
  stats.retried = sum('libreair_upstream_retries_total');
  stats.ejections = sum('libreair_upstream_ejections_total');
  results.failover = stats;
  row('failover: requests failed before streaming, after kill -9 of 1 of 3 (16 streams)', stats.failed_before_streaming, '—', `${stats.requests} requests`, '0', stats.failed_before_streaming === 0);
  row('failover: streams in flight continued / ended with an error event / silently cut', `${stats.continued} / ${stats.ended_with_error} / ${stats.silent_truncation}`, '—', '', '0 silent', stats.silent_truncation === 0);
  gw.proc.kill('SIGTERM');
  for (const s of servers) if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
}

// ---- memory ----
async function slowUpstream() {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (req.method === 'GET') { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('{"data":[]}'); return; }
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      let n = 0;
      const t = setInterval(() => {
        if (++n > 120) { clearInterval(t); res.end('data: [DONE]\n\n'); return; }
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'mot ' }, finish_reason: null }] })}\n\n`);
      }, 500);
      res.on('close', () => clearInterval(t));
    });
  });
  server.maxConnections = 5000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, server };
}

const rss = (pid) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]) * 1024;

async function memory() {
  const up = await slowUpstream();
  const gw = await lair({ models: [{ name: 'm', queue: 4000, upstreams: [{ url: `${up.url}/v1`, max_concurrent: 4000 }] }] });
  const idle = rss(gw.proc.pid);
  let open = 0;
  const all = [...Array(1000).keys()].map((k) => stream(gw.url, gw.key, { model: 'm', messages: [{ role: 'user', content: `s${k}` }] },
    { localAddress: `127.${1 + Math.floor(k / 250)}.9.${(k % 250) + 1}`, onFirst: () => { open++; } }));
  for (let i = 0; i < 600 && open < 1000; i++) await sleep(100);
  await sleep(2000);
  const held = rss(gw.proc.pid);
  results.memory = { streams_open: open, rss_idle_mib: idle / 2 ** 20, rss_mib: held / 2 ** 20 };
  row('gateway RSS with 1,000 streams held open (MiB)', (held / 2 ** 20).toFixed(1), '—', `${open} open, idle ${(idle / 2 ** 20).toFixed(1)}`, '≤ 100', held / 2 ** 20 <= 100 && open === 1000);
  gw.proc.kill('SIGKILL');
  up.server.closeAllConnections();
  up.server.close();
  await Promise.allSettled(all);
}

// ---- embeddings ----
async function embeddings() {
  const bert = join(CACHE, 'bert-384.gguf');
  mkdirSync(CACHE, { recursive: true });
  if (!existsSync(bert))
    execFileSync(join(SRC, 'scripts', 'gen-model.sh'), ['tiny-bert', bert, '-q', '--n-embd', '384', '--n-head', '6', '--n-ff', '1536', '--n-layer', '2'],
      { env: { ...process.env, LAIR_BUILD: BUILD }, stdio: 'inherit' });
  const ls = await llamaServer(bert, { slots: 1, ctx: 512, embedding: true });
  const gw = await lair({ models: [{ name: 'e', path: bert }] });
  const text = readFileSync(join(SRC, 'demo', 'documents', readdirFirst(join(SRC, 'demo', 'documents'))), 'utf8');
  const words = text.replace(/\s+/g, ' ').split(' ');
  const passages = [...Array(512).keys()].map((k) => words.slice((k * 37) % (words.length - 200), (k * 37) % (words.length - 200) + 150).join(' '));
  const side = async (url, key, model) => {
    const t0 = performance.now();
    for (let i = 0; i < passages.length; i += 32) {
      const r = await fetch(`${url}/v1/embeddings`, { method: 'POST',
        headers: { 'Content-Type': 'application/json', ...(key ? { Authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify({ model, input: passages.slice(i, i + 32) }) });
      if (r.status !== 200) throw new Error(`${url}: HTTP ${r.status} ${await r.text()}`);
      await r.json();
    }
    return passages.length / ((performance.now() - t0) / 1000);
  };
  const ours = [], peer = [];
  for (let round = 0; round < 3; round++) {
    ours.push(await side(gw.url, gw.key, 'e'));
    peer.push(await side(ls.url, null, 'bert'));
  }
  const r = median(ours) / median(peer);
  results.embeddings = { ours, peer };
  row('embeddings, passages/s, in process / llama-server (batches of 32)', median(ours).toFixed(1), median(peer).toFixed(1), r.toFixed(3), '≥ 1.0', r >= 1.0);
  gw.proc.kill('SIGTERM');
  ls.proc.kill('SIGKILL');
}

function readdirFirst(d) {
  return execFileSync('ls', [d], { encoding: 'utf8' }).split('\n').filter((f) => f.endsWith('.md') || f.endsWith('.txt'))[0];
}

try {
  const m = runs.some((r) => ['overhead', 'routing', 'failover'].includes(r)) ? model() : null;
  for (const r of runs) {
    console.error(`# ${r}…`);
    if (r === 'overhead') await overhead(m);
    else if (r === 'routing') await routing(m);
    else if (r === 'failover') await failover(m);
    else if (r === 'memory') await memory();
    else if (r === 'embeddings') await embeddings();
  }
} finally {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
console.log(`| measure | LibreAIr | peer | ratio | target | result |\n|---|---:|---:|---:|---|---|`);
for (const r of rows) console.log(`| ${r.name} | ${r.ours} | ${r.peer} | ${r.ratio} | ${r.target} | ${r.pass ? 'PASS' : 'MISS'} |`);
mkdirSync(join(SRC, 'bench', 'out'), { recursive: true });
writeFileSync(join(SRC, 'bench', 'out', 'upstream.json'), JSON.stringify({ date: new Date().toISOString(), threads: THREADS, results, rows }, null, 1));
process.exit(0);
