// Fairness between tenants: while tenant A keeps 16 streams busy, tenant B's
// single request must get its first token within 2x its idle time to first
// token (issue 3). Starts the real server on a fresh data directory, creates
// two tenants, measures B's TTFT idle (median of R), then again while A's
// streams (ignore_eos, 256 tokens each, restarted as they finish so that 16
// are always open) hold every slot and fill the queue. Prints both medians,
// the ratio against the target and PASS or MISS. A MISS is a finding, not a
// failure: the exit status is 0 when the measurement ran, 1 when it could not.
//
//   node bench/fairness.mjs [--model PATH.gguf] [--slots 4] [--streams 16]
//                           [--tokens 256] [--rounds 5] [--threads N] [--ctx N]
//                           [--b-tokens 8] [--chat-model NAME] [--budget-s 170]
//                           [--json OUT.json]
//
// Environment: MODEL (the GGUF; default: a tiny random Qwen2 generated with
// scripts/gen-model.sh tiny-qwen2), LAIR_BUILD (build folder, default build/),
// BENCH_THREADS (default 2).
//
// Tenants reach a model through a published assistant over it when the
// assistants API accepts one, else by the raw model name; --chat-model NAME
// forces the name. TTFT = request sent -> first SSE chunk carrying generated
// text. The loaded rounds stop early (and say so) when the run would pass
// --budget-s seconds; a loaded request still without its first token when
// the budget runs out counts as a lower bound (">= N ms"), which is enough to
// tell a MISS. No dependencies beyond Node.js 20 (fetch).

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function parseArgs(argv) {
    const o = {};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (!a.startsWith('--')) die(`unexpected argument '${a}'`);
        const k = a.slice(2);
        if (k === 'help' || k === 'h') { o.help = true; continue; }
        const v = argv[i + 1];
        if (v === undefined || v.startsWith('--')) die(`--${k} needs a value`);
        o[k] = v;
        i++;
    }
    return o;
}

function die(msg) {
    process.stderr.write(`fairness.mjs: ${msg}\n`);
    process.exit(1);
}

const log = (msg) => process.stderr.write(`[fairness ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

const median = (xs) => {
    const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
    if (!s.length) return null;
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const args = parseArgs(process.argv.slice(2));
if (args.help) {
    const src = (await import('node:fs')).readFileSync(fileURLToPath(import.meta.url), 'utf8');
    process.stdout.write(src.split('\n').slice(0, 21).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
    process.exit(0);
}
const int = (v, d, name) => {
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) die(`--${name} must be a positive integer`);
    return n;
};
const cfg = {
    build: process.env.LAIR_BUILD || join(root, 'build'),
    model: args.model || process.env.MODEL || '',
    slots: int(args.slots, 4, 'slots'),
    streams: int(args.streams, 16, 'streams'),
    tokens: int(args.tokens, 256, 'tokens'),
    rounds: int(args.rounds, 5, 'rounds'),
    threads: int(args.threads, Number(process.env.BENCH_THREADS) || 2, 'threads'),
    ctx: int(args.ctx, 1024, 'ctx'),
    bTokens: int(args['b-tokens'], 8, 'b-tokens'),
    chatModel: args['chat-model'] || '',
    json: args.json || '',
    budgetS: int(args['budget-s'], 170, 'budget-s'), // the whole run, server start included
};
const TARGET = 2.0;
const bin = join(cfg.build, 'libreair');
if (!existsSync(bin)) die(`${bin} is not built (make, or set LAIR_BUILD)`);

const work = mkdtempSync(join(tmpdir(), 'lair-fairness-'));
let server = null;
let stderrTail = '';
const cleanup = () => {
    if (server && server.exitCode === null) server.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
};
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
const t0 = performance.now();
const elapsedS = () => (performance.now() - t0) / 1000;
const deadline = setTimeout(() => {
    log(`gave up: the run took more than ${cfg.budgetS + 60} s`);
    process.exit(1);
}, (cfg.budgetS + 60) * 1000);
deadline.unref();

/* ---- server ---------------------------------------------------------- */

if (!cfg.model) {
    cfg.model = join(work, 'tiny-qwen2.gguf');
    log('no MODEL: generating a tiny random Qwen2 (scripts/gen-model.sh tiny-qwen2)');
    execFileSync(join(root, 'scripts/gen-model.sh'), ['tiny-qwen2', cfg.model],
        { env: { ...process.env, LAIR_BUILD: cfg.build }, stdio: ['ignore', 'ignore', 'inherit'] });
}
if (!existsSync(cfg.model)) die(`no model at ${cfg.model}`);

const data = join(work, 'data');
const operatorKey = execFileSync(bin, ['init', '--data', data], { encoding: 'utf8' }).trim().split('\n').pop();

async function startServer() {
    // A's queued streams wait minutes for a slot: the idle timeout must not
    // close them (by default it does at 60 s; reported as a server issue)
    const conf = join(work, 'serve.json');
    writeFileSync(conf, JSON.stringify({ limits: { idle_timeout_s: 3600 } }));
    const argv = ['serve', '--data', data, '--listen', '127.0.0.1:0', '--config', conf,
        '--model', `bench=${cfg.model}`, '--slots', String(cfg.slots), '--threads',
        String(cfg.threads), '--ctx', String(cfg.ctx), '--queue', String(Math.max(64, cfg.streams * 2))];
    log(`libreair ${argv.join(' ')}`);
    const env = { ...process.env };
    delete env.LIBREAIR_MODEL;
    server = spawn(bin, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stderr.on('data', (d) => { stderrTail = (stderrTail + d).slice(-2000); });
    const lines = createInterface({ input: server.stdout });
    return new Promise((resolveUrl, reject) => {
        let url = null;
        server.on('exit', (code) => reject(new Error(`server exited (${code}): ${stderrTail}`)));
        lines.on('line', (line) => {
            const m = line.match(/^libreair: listening on (http:\S+)$/);
            if (m) url = m[1];
            if (/^libreair: ready/.test(line)) {
                if (url) resolveUrl(url);
                else reject(new Error('ready before a listening line'));
            }
        });
    });
}

let base;
try {
    base = await startServer();
} catch (e) {
    die(e.message);
}
log(`server at ${base}, ready after ${((performance.now() - t0) / 1000).toFixed(1)} s`);

async function api(key, method, path, body) {
    const r = await fetch(base + path, {
        method,
        headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, json, text };
}

async function tenant(slug) {
    const r = await api(operatorKey, 'POST', '/api/v1/tenants', { admin_key: true, slug, name: slug });
    if (r.status !== 201) die(`creating tenant ${slug}: ${r.status} ${r.text}`);
    return r.json.admin_key;
}

/* The name a tenant key chats with: a published assistant over the model
 * when the assistants API takes one, else the raw model name; the first
 * that answers a one-token request wins. */
async function chatModelFor(key) {
    const candidates = [];
    if (cfg.chatModel) candidates.push(cfg.chatModel);
    else {
        const spec = { slug: 'fair', name: 'fairness', model: 'bench', instructions: '',
            params: { max_tokens: Math.max(cfg.tokens, cfg.bTokens) } };
        const c = await api(key, 'POST', '/api/v1/assistants', spec);
        if (c.status === 200 || c.status === 201) {
            const p = await api(key, 'POST', '/api/v1/assistants/fair/publish', {});
            if (p.status === 200 || p.status === 201) candidates.push('fair');
        }
        candidates.push('bench');
    }
    for (const name of candidates) {
        const r = await api(key, 'POST', '/v1/chat/completions',
            { model: name, messages: [{ role: 'user', content: 'bonjour' }], max_tokens: 1 });
        if (r.status === 200) return name;
        log(`model '${name}' not usable with a tenant key: ${r.status} ${r.text.slice(0, 200)}`);
    }
    die('no model name works with a tenant key (pass --chat-model)');
}

/* ---- streaming ------------------------------------------------------- */

const QUESTIONS = [
    'Quels sont les horaires d\'ouverture de la mairie le samedi ?',
    'Comment obtenir un acte de naissance pour un enfant né dans la commune ?',
    'Où déposer une demande de permis de construire pour une extension ?',
    'Quand a lieu la collecte des encombrants dans le quartier de la gare ?',
    'Comment inscrire mon enfant à la cantine scolaire pour la rentrée ?',
    'Quels justificatifs faut-il pour une carte nationale d\'identité ?',
    'Comment réserver la salle des fêtes pour un mariage en juin ?',
    'Qui contacter pour un problème d\'éclairage public dans ma rue ?',
];

/* One streamed chat request. Resolves {ttft, total, chunks, status, error};
 * ttft is ms from send to the first chunk with generated text; a stream the
 * server cut short has `error` set. */
async function stream(key, model, text, maxTokens, ignoreEos, signal) {
    const sent = performance.now();
    let ttft = null, chunks = 0, status = 0, done = false;
    try {
        const r = await fetch(base + '/v1/chat/completions', {
            method: 'POST',
            headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
            body: JSON.stringify({ model, stream: true, max_tokens: maxTokens, temperature: 0,
                ignore_eos: ignoreEos, messages: [{ role: 'user', content: text }] }),
            signal,
        });
        status = r.status;
        if (r.status !== 200) {
            await r.text();
            return { ttft, total: performance.now() - sent, chunks, status, error: `HTTP ${status}` };
        }
        const dec = new TextDecoder();
        let buf = '';
        for await (const part of r.body) {
            buf += dec.decode(part, { stream: true });
            let i;
            while ((i = buf.indexOf('\n\n')) >= 0) {
                const ev = buf.slice(0, i);
                buf = buf.slice(i + 2);
                if (ev === 'data: [DONE]') done = true;
                if (!ev.startsWith('data: ') || done) continue;
                let j;
                try { j = JSON.parse(ev.slice(6)); } catch { continue; }
                const c = j.choices && j.choices[0] && j.choices[0].delta && j.choices[0].delta.content;
                if (c) {
                    chunks++;
                    if (ttft === null) ttft = performance.now() - sent;
                }
            }
        }
    } catch (e) {
        if (!(signal && signal.aborted))
            return { ttft, total: performance.now() - sent, chunks, status, error: String(e.cause || e) };
    }
    const error = done || (signal && signal.aborted) ? null : 'stream ended without [DONE]';
    return { ttft, total: performance.now() - sent, chunks, status, error };
}

async function measureB(key, model, label, round0) {
    const out = [];
    for (let i = 0; i < cfg.rounds; i++) {
        const q = `${QUESTIONS[(round0 + i) % QUESTIONS.length]} (${label} ${i})`;
        const r = await stream(key, model, q, cfg.bTokens, false);
        if (r.error || r.ttft === null) die(`tenant B request failed: ${r.error}\n${stderrTail}`);
        out.push(r.ttft);
        log(`  B ${label} round ${i + 1}: TTFT ${r.ttft.toFixed(0)} ms`);
    }
    return out;
}

/* ---- the run ----------------------------------------------------------- */

const keyA = await tenant('tenant-a');
const keyB = await tenant('tenant-b');
const modelA = await chatModelFor(keyA);
const modelB = await chatModelFor(keyB);
log(`tenant A chats with '${modelA}', tenant B with '${modelB}'`);

// warm-up: one of each, so that neither measure pays a first-use cost
await stream(keyA, modelA, QUESTIONS[0], 4, false);
await stream(keyB, modelB, QUESTIONS[1], 4, false);

log(`B idle: ${cfg.rounds} rounds of ${cfg.bTokens} tokens`);
const idle = await measureB(keyB, modelB, 'idle', 0);

log(`A: ${cfg.streams} streams of ${cfg.tokens} tokens (ignore_eos), restarted as they end`);
const stop = new AbortController();
let aStarted = 0, aDone = 0, aOpen = 0, aTokens = 0, aErrors = 0, aLastError = null;
const workers = [];
for (let w = 0; w < cfg.streams; w++) {
    workers.push((async () => {
        for (let n = 0; !stop.signal.aborted; n++) {
            aStarted++;
            aOpen++;
            const q = `${QUESTIONS[(w + n) % QUESTIONS.length]} [A${w}.${n}]`;
            const r = await stream(keyA, modelA, q, cfg.tokens, true, stop.signal);
            aOpen--;
            if (stop.signal.aborted) break;
            if (r.error) {
                aErrors++;
                aLastError = r.error;
            }
            aDone++;
            aTokens += r.chunks;
        }
    })());
}
// A saturates once every slot is busy with A: poll the server's gauges
const slotsBusy = async () => {
    const r = await fetch(base + '/metrics');
    const text = await r.text();
    const g = (name) => {
        const m = text.match(new RegExp(`^${name}\\{[^}]*model="bench"[^}]*\\}\\s+(\\S+)`, 'm'));
        return m ? Number(m[1]) : NaN;
    };
    return { busy: g('libreair_busy_slots'), queued: g('libreair_queue_depth') };
};
const satDeadline = performance.now() + 60000;
let gauges = { busy: NaN, queued: NaN };
for (;;) {
    gauges = await slotsBusy();
    if (gauges.busy >= cfg.slots && gauges.queued >= Math.min(cfg.streams - cfg.slots, 1)) break;
    if (Number.isNaN(gauges.busy) && aStarted >= cfg.streams) break; // no gauges: trust the count
    if (performance.now() > satDeadline) die(`A never filled the slots: ${JSON.stringify(gauges)}`);
    await new Promise((r) => setTimeout(r, 50)); // polling a gauge, not synchronising on time
}
log(`A saturates the server: ${gauges.busy} slots busy, ${gauges.queued} queued`);
const loadStart = performance.now();
const loaded = [];
const during = [];
let cutShort = false, censored = false;
for (let i = 0; i < cfg.rounds; i++) {
    // stop early rather than overrun the budget: a round lasts about as long
    // as the longest so far
    const longest = loaded.length ? Math.max(...loaded) / 1000 : 0;
    if (i > 0 && elapsedS() + longest * 1.5 > cfg.budgetS) {
        cutShort = true;
        log(`  budget of ${cfg.budgetS} s reached: ${i} loaded rounds instead of ${cfg.rounds}`);
        break;
    }
    const g = await slotsBusy();
    const q = `${QUESTIONS[(3 + i) % QUESTIONS.length]} (loaded ${i})`;
    const giveUp = new AbortController();
    const timer = setTimeout(() => giveUp.abort(), Math.max(1, cfg.budgetS - elapsedS()) * 1000);
    const r = await stream(keyB, modelB, q, cfg.bTokens, false, giveUp.signal);
    clearTimeout(timer);
    if (giveUp.signal.aborted && r.ttft === null) {
        censored = cutShort = true;
        loaded.push(r.total);
        during.push({ ttft_at_least: r.total, a_open: aOpen, busy: g.busy, queued: g.queued });
        log(`  B loaded round ${i + 1}: no first token after ${r.total.toFixed(0)} ms (budget reached)`);
        break;
    }
    if (r.error || r.ttft === null) die(`tenant B request failed under load: ${r.error}\n${stderrTail}`);
    loaded.push(r.ttft);
    during.push({ ttft: r.ttft, a_open: aOpen, busy: g.busy, queued: g.queued });
    log(`  B loaded round ${i + 1}: TTFT ${r.ttft.toFixed(0)} ms (A: ${aOpen} open, ${g.busy} busy, ${g.queued} queued)`);
}
const loadS = (performance.now() - loadStart) / 1000;
stop.abort();
await Promise.all(workers);

const mIdle = median(idle), mLoaded = median(loaded);
const ratio = mLoaded / mIdle;
// a censored round makes the median a lower bound: it can only tell a MISS
const verdict = ratio > TARGET ? 'MISS' : censored ? 'UNKNOWN' : 'PASS';
const ge = censored ? '>= ' : '';
const result = {
    bench: 'fairness',
    model: cfg.model,
    chat_model: { a: modelA, b: modelB },
    slots: cfg.slots, threads: cfg.threads, a_streams: cfg.streams, a_tokens: cfg.tokens,
    b_tokens: cfg.bTokens, rounds: cfg.rounds, loaded_rounds: loaded.length, cut_short: cutShort,
    b_ttft_idle_ms: idle, b_ttft_loaded_ms: loaded, during,
    b_ttft_idle_median_ms: mIdle, b_ttft_loaded_median_ms: mLoaded,
    ratio, ratio_is_lower_bound: censored, target: TARGET, verdict,
    a_completed_streams: aDone, a_errors: aErrors, a_last_error: aLastError,
    a_tokens_per_s: loadS > 0 ? aTokens / loadS : null,
    seconds: (performance.now() - t0) / 1000,
};
if (cfg.json) writeFileSync(cfg.json, JSON.stringify(result, null, 1) + '\n');
process.stdout.write(
    `fairness: tenant B's time to first token, idle vs while tenant A keeps ${cfg.streams} streams busy\n` +
    `  slots ${cfg.slots}, threads ${cfg.threads}, A ${cfg.tokens}-token streams, ` +
    `median of ${cfg.rounds} idle / ${loaded.length} loaded rounds${cutShort ? ' (budget reached)' : ''}\n` +
    `  B idle TTFT    ${mIdle.toFixed(0)} ms\n` +
    `  B loaded TTFT  ${ge}${mLoaded.toFixed(0)} ms\n` +
    `  ratio          ${ge}${ratio.toFixed(2)}  (target <= ${TARGET.toFixed(1)})  ${verdict}\n` +
    (aErrors ? `  warning: ${aErrors} of tenant A's streams failed (last: ${aLastError})\n` : ''));
process.exit(0);
