// Evaluation throughput (issue 17, "what it must show"; docs/evaluation.md,
// "Throughput"): the same N cases run
//   A. as an evaluation run, P cases in parallel (POST /api/v1/assistants/
//      {slug}/eval-runs {"parallel": P}: the engine batches their tokens), and
//   B. one by one by an HTTP client (POST /v1/chat/completions, the same
//      assistant, the same questions, greedy like the runner), waiting for
//      each answer before sending the next,
// against one server (--slots P), in alternated rounds (A B B A …) so that a
// slow spell of a shared machine falls on both. Prints cases per minute for
// each, the ratio A / B, and the answers' total length in each mode (the
// same work was done: both are greedy on the same prompts).
//
//   node bench/eval_throughput.mjs [--cases 24] [--parallel 4] [--rounds 2]
//        [--max-tokens 64] [--threads 2] [--model M.gguf]
//
// The model: ~/.cache/libreair/bench/qwen2-256x4.gguf (the benches' small
// random-weight Qwen2, written by scripts/gen-model.sh when absent), or
// --model. Random weights almost never emit end-of-sequence, so every answer
// runs to max_tokens: every case is a full generation.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir, homedir, cpus, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUILD = process.env.LAIR_BUILD || join(SRC, 'build');
const BIN = join(BUILD, 'libreair');
const CACHE = join(process.env.LIBREAIR_CACHE || join(homedir(), '.cache', 'libreair'), 'bench');
const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf(`--${n}`); return i >= 0 ? args[i + 1] : d; };
const N = Number(opt('cases', 24));
const P = Number(opt('parallel', 4));
const ROUNDS = Number(opt('rounds', 2));
const MAX_TOKENS = Number(opt('max-tokens', 64));
const THREADS = Number(opt('threads', 2));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const dir = mkdtempSync(join(tmpdir(), 'lair-bench-eval-'));

function model() {
  if (opt('model')) return opt('model');
  const m = join(CACHE, 'qwen2-256x4.gguf');
  mkdirSync(CACHE, { recursive: true });
  if (!existsSync(m))
    execFileSync(join(SRC, 'scripts', 'gen-model.sh'), ['tiny-qwen2', m, '-q', '--n-embd', '256', '--n-layer', '4', '--n-ff', '768'],
      { env: { ...process.env, LAIR_BUILD: BUILD }, stdio: 'inherit' });
  return m;
}

const QUESTIONS = Array.from({ length: N }, (_, i) =>
  `Question ${i + 1} : quels sont les horaires d'ouverture du service numéro ${i + 1} de la mairie, et faut-il prendre rendez-vous ?`);

const data = join(dir, 'data');
const env = { ...process.env, LIBREAIR_DATA: data };
const cli = (...a) => execFileSync(BIN, a, { env, encoding: 'utf8' });
cli('init');
const KEY = cli('tenant', 'create', '--admin-key', 'ville', '--name', 'Ville').trim().split('\n').pop();
writeFileSync(join(dir, 'a.json'), JSON.stringify({
  slug: 'accueil', name: 'Accueil', model: 'bench',
  instructions: "Tu es l'assistant d'accueil de la mairie. Réponds en français, poliment et brièvement.",
  params: { max_tokens: MAX_TOKENS },
}));
cli('assistant', 'apply', '--tenant', 'ville', '--publish', join(dir, 'a.json'));
writeFileSync(join(dir, 's.json'), JSON.stringify({
  name: 'charge',
  cases: QUESTIONS.map((q, i) => ({ id: `q${i + 1}`, category: 'charge', question: q, expect: { max_latency_ms: 600000 } })),
}));
cli('eval', 'apply', '--tenant', 'ville', '--assistant', 'accueil', join(dir, 's.json'));

const M = model();
const server = spawn(BIN, ['serve', '--data', data, '--listen', '127.0.0.1:0', '--model', `bench=${M}`,
  '--slots', String(P), '--ctx', '4096', '--threads', String(THREADS)], { stdio: ['ignore', 'pipe', 'ignore'] });
process.on('exit', () => { server.kill('SIGTERM'); rmSync(dir, { recursive: true, force: true }); });
const URL = await new Promise((resolve, reject) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    const m = out.match(/^libreair: listening on (http:\S+)/m);
    if (m) resolve(m[1]);
  });
  server.on('exit', () => reject(new Error('the server exited')));
});
server.stdout.resume();

const H = { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' };
async function api(method, path, body) {
  const r = await fetch(`${URL}${path}`, { method, headers: H, body: body && JSON.stringify(body) });
  const j = await r.json();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}
for (let i = 0; ; i++) {
  try { if ((await fetch(`${URL}/readyz`)).status === 200) break; } catch { /* not yet */ }
  if (server.exitCode !== null || i > 1200) throw new Error('the server did not start');
  await sleep(100);
}

// A: one evaluation run, P cases at a time; wall time from POST to "done".
async function evalRun() {
  const t0 = performance.now();
  const run = await api('POST', '/api/v1/assistants/accueil/eval-runs', { suite: 'charge', version: 'published', parallel: P });
  let r;
  for (;;) {
    r = await api('GET', `/api/v1/assistants/accueil/eval-runs/${run.id}`);
    if (r.state !== 'running') break;
    await sleep(50);
  }
  const s = (performance.now() - t0) / 1000;
  if (r.state !== 'done' || r.total !== N) throw new Error(`run ${run.id}: ${r.state} ${r.done}/${r.total}`);
  const failed = r.cases.filter((c) => c.answer_mode !== 'generated');
  if (failed.length) throw new Error(`run ${run.id}: ${failed.length} cases not generated: ${JSON.stringify(failed[0])}`);
  return { s, engine_s: r.duration_ms / 1000, chars: r.cases.reduce((n, c) => n + c.answer.length, 0) };
}

// B: the same questions, one by one, through the OpenAI endpoint.
async function oneByOne() {
  const t0 = performance.now();
  let chars = 0, tokens = 0;
  const lat = [];
  for (const q of QUESTIONS) {
    const t = performance.now();
    const r = await api('POST', '/v1/chat/completions', {
      model: 'accueil', temperature: 0, seed: 1, max_tokens: MAX_TOKENS, messages: [{ role: 'user', content: q }],
    });
    lat.push(performance.now() - t);
    chars += r.choices[0].message.content.length;
    tokens += r.usage.completion_tokens;
  }
  return { s: (performance.now() - t0) / 1000, chars, tokens, p50: median(lat), max: Math.max(...lat) };
}

await oneByOne(); // warm-up: model pages, prefix cache of the instructions
const A = [], B = [];
for (let i = 0; i < ROUNDS; i++) {
  const order = i % 2 ? [oneByOne, evalRun] : [evalRun, oneByOne];
  for (const f of order) {
    const r = await f();
    (f === evalRun ? A : B).push(r);
    console.error(`round ${i + 1} ${f === evalRun ? `eval run, ${P} in parallel` : 'HTTP, one by one'}: ${r.s.toFixed(2)} s` +
      (r.p50 ? ` (per request: median ${r.p50.toFixed(0)} ms, max ${r.max.toFixed(0)} ms)` : '') +
      `, load ${loadavg()[0].toFixed(1)}`);
  }
}
const perMin = (s) => (N * 60) / s;
const a = median(A.map((r) => r.s)), b = median(B.map((r) => r.s));
const lines = [
  `model ${M.replace(homedir(), '~')}, ${N} cases, max_tokens ${MAX_TOKENS}, --slots ${P} --threads ${THREADS}, ` +
    `${cpus().length} cores, load ${loadavg()[0].toFixed(1)}, median of ${ROUNDS} alternated rounds`,
  `A eval run, ${P} in parallel : ${perMin(a).toFixed(1)} cases/min (${a.toFixed(2)} s; tries ${A.map((r) => r.s.toFixed(2)).join(', ')}; ` +
    `answers ${A[0].chars} chars)`,
  `B HTTP API, one by one      : ${perMin(b).toFixed(1)} cases/min (${b.toFixed(2)} s; tries ${B.map((r) => r.s.toFixed(2)).join(', ')}; ` +
    `answers ${B[0].chars} chars, ${B[0].tokens} tokens)`,
  `ratio A / B: ${(b / a).toFixed(2)}x`,
];
console.log(lines.join('\n'));
process.exit(0);
