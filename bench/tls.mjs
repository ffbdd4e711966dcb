// The cost of TLS, with the peers side by side in one run (production
// issue): single-stream decode tok/s of LibreAIr over HTTPS against the same
// build over plain HTTP (two servers, the same model and threads, measured in
// ABAB rounds), and GET /v1/models req/s with wrk over HTTPS, LibreAIr's own
// TLS against Debian's nginx terminating TLS in front of the plain server
// (docs/examples/nginx-libreair.conf).
//
//   node bench/tls.mjs [--model M.gguf] [--seconds 10]
import https from 'node:https';
import http from 'node:http';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUILD = process.env.LAIR_BUILD || join(SRC, 'build');
const BIN = join(BUILD, 'libreair');
const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf(`--${n}`); return i >= 0 ? args[i + 1] : d; };
const SECONDS = Number(opt('seconds', 10));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const dir = mkdtempSync(join(tmpdir(), 'lair-bench-tls-'));
const procs = [];
let nextPort = 40000 + Math.floor(Math.random() * 10000);

function model() {
  if (opt('model')) return opt('model');
  const cache = join(process.env.LIBREAIR_CACHE || join(homedir(), '.cache', 'libreair'), 'bench');
  const q8 = join(cache, 'qwen2-0.5b-q8_0.gguf');
  if (existsSync(q8)) return q8;
  const m = join(cache, 'qwen2-256x4.gguf');
  mkdirSync(cache, { recursive: true });
  if (!existsSync(m))
    execFileSync(join(SRC, 'scripts', 'gen-model.sh'), ['tiny-qwen2', m, '-q', '--n-embd', '256', '--n-layer', '4', '--n-ff', '768'],
      { env: { ...process.env, LAIR_BUILD: BUILD }, stdio: 'inherit' });
  return m;
}

function certs() {
  const run = (a) => execFileSync('openssl', a, { stdio: ['ignore', 'ignore', 'ignore'] });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=bench CA', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem')]);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1',
    '-keyout', join(dir, 'server.key'), '-out', join(dir, 'server.csr')]);
  writeFileSync(join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(['x509', '-req', '-in', join(dir, 'server.csr'), '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca.key'),
    '-set_serial', '7', '-days', '2', '-extfile', join(dir, 'ext'), '-out', join(dir, 'server.pem')]);
  return readFileSync(join(dir, 'ca.pem'));
}

async function lair(m, extra) {
  const data = join(dir, `data-${nextPort}`);
  const key = execFileSync(BIN, ['init', '--data', data], { encoding: 'utf8' }).trim().split('\n').pop();
  const port = nextPort++;
  const proc = spawn(BIN, ['serve', '--data', data, '--listen', `127.0.0.1:${port}`, '--model', `m=${m}`,
    '--slots', '1', '--ctx', '2048', '--threads', '1', ...extra], { stdio: ['ignore', 'ignore', 'ignore'] });
  procs.push(proc);
  return { proc, port, key };
}

async function ready(url, ca) {
  for (let i = 0; i < 600; i++) {
    const ok = await new Promise((r) => {
      const mod = url.startsWith('https') ? https : http;
      mod.get(`${url}/readyz`, { ca }, (res) => { res.resume(); r(res.statusCode === 200); }).on('error', () => r(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`${url} not ready`);
}

// One streamed chat of 128 tokens; tok/s from the first to the last token.
function decode(url, key, ca) {
  const body = JSON.stringify({ model: 'm', stream: true, max_tokens: 128, ignore_eos: true, temperature: 0,
    stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Il était une fois' }] });
  const mod = url.startsWith('https') ? https : http;
  return new Promise((resolve, reject) => {
    let first = null, last = null, tokens = 0;
    const req = mod.request(`${url}/v1/chat/completions`, { method: 'POST', ca, agent: false,
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' } }, (res) => {
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (d) => {
        buf += d;
        const now = performance.now();
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (ev.includes('"content":"') && !ev.includes('"content":""')) { first ??= now; last = now; }
          const m = ev.match(/"completion_tokens":(\d+)/);
          if (m) tokens = Number(m[1]);
        }
      });
      res.on('end', () => resolve((tokens - 1) / ((last - first) / 1000)));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function wrk(url, key) {
  const out = execFileSync('wrk', ['-t2', '-c64', `-d${SECONDS}s`, '--latency', '-H', `Authorization: Bearer ${key}`,
    `${url}/v1/models`], { encoding: 'utf8' });
  const rps = Number(out.match(/Requests\/sec:\s+([\d.]+)/)[1]);
  const p99 = out.match(/99%\s+([\d.]+\w+)/)[1];
  return { rps, p99 };
}

try {
  const m = model();
  const ca = certs();
  const tls = await lair(m, ['--tls-cert', join(dir, 'server.pem'), '--tls-key', join(dir, 'server.key')]);
  const plain = await lair(m, ['--trusted-proxy', '127.0.0.1']);
  const T = `https://127.0.0.1:${tls.port}`, P = `http://127.0.0.1:${plain.port}`;
  await ready(T, ca);
  await ready(P);
  // nginx terminating TLS in front of the plain server
  const np = nextPort++;
  const ndir = join(dir, 'nginx');
  mkdirSync(ndir);
  const site = readFileSync(join(SRC, 'docs', 'examples', 'nginx-libreair.conf'), 'utf8')
    .replace(/server 127\.0\.0\.1:8080;.*/, `server 127.0.0.1:${plain.port};`)
    .replace(/listen 443 ssl http2;.*/, `listen 127.0.0.1:${np} ssl http2;`)
    .replace('/etc/ssl/certs/assistant.ville.fr.pem', join(dir, 'server.pem'))
    .replace('/etc/ssl/private/assistant.ville.fr.key', join(dir, 'server.key'));
  writeFileSync(join(ndir, 'site.conf'), site);
  writeFileSync(join(ndir, 'nginx.conf'), `pid ${ndir}/nginx.pid;\nerror_log ${ndir}/error.log;\nworker_processes auto;\n` +
    `events {}\nhttp {\naccess_log off;\nclient_body_temp_path ${ndir}/b;\nproxy_temp_path ${ndir}/p;\n` +
    `fastcgi_temp_path ${ndir}/f;\nuwsgi_temp_path ${ndir}/u;\nscgi_temp_path ${ndir}/s;\ninclude ${ndir}/site.conf;\n}\n`);
  const nginx = spawn('nginx', ['-c', join(ndir, 'nginx.conf'), '-p', ndir, '-g', 'daemon off;'], { stdio: 'ignore' });
  procs.push(nginx);
  const N = `https://127.0.0.1:${np}`;
  await ready(N, ca);
  await decode(T, tls.key, ca);
  await decode(P, plain.key);
  const r = { tls: [], plain: [] };
  for (let round = 0; round < 5; round++)
    for (const side of round % 2 ? ['plain', 'tls', 'tls', 'plain'] : ['tls', 'plain', 'plain', 'tls'])
      r[side].push(side === 'tls' ? await decode(T, tls.key, ca) : await decode(P, plain.key));
  const own = wrk(T, tls.key), front = wrk(N, plain.key), clear = wrk(P, plain.key);
  const ratio = median(r.tls) / median(r.plain);
  console.log('| measure | LibreAIr TLS | peer | ratio | target | result |\n|---|---:|---:|---:|---|---|');
  console.log(`| single-stream decode tok/s, HTTPS / plain HTTP (median of 10) | ${median(r.tls).toFixed(1)} | ${median(r.plain).toFixed(1)} | ${ratio.toFixed(3)} | ≥ 0.98 | ${ratio >= 0.98 ? 'PASS' : 'MISS'} |`);
  console.log(`| GET /v1/models, wrk -t2 -c64 ${SECONDS} s: LibreAIr's TLS / nginx terminating TLS | ${own.rps.toFixed(0)} req/s, p99 ${own.p99} | ${front.rps.toFixed(0)} req/s, p99 ${front.p99} | ${(own.rps / front.rps).toFixed(3)} | reported | |`);
  console.log(`| (context) the same over plain HTTP, no TLS | ${clear.rps.toFixed(0)} req/s, p99 ${clear.p99} | | | | |`);
  mkdirSync(join(SRC, 'bench', 'out'), { recursive: true });
  writeFileSync(join(SRC, 'bench', 'out', 'tls.json'), JSON.stringify({ date: new Date().toISOString(), decode: r, wrk: { own, front, clear } }, null, 1));
} finally {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
