// LibreAIr benchmark client: drives an OpenAI-compatible server (LibreAIr or
// llama-server) over HTTP with streaming, and prints one JSON object with the
// measurements. The same code measures both sides, so the procedure is the
// same for each.
//
//   node bench/client.mjs decode     --base URL [--key K] --model M --tokens N --runs R
//   node bench/client.mjs concurrent --base URL [--key K] --model M --tokens N --runs R --streams S
//   node bench/client.mjs ttft       --base URL [--key K] --model M --rounds R --system-tokens T [--seed N] [--fillers N]
//   node bench/client.mjs system-prompt --seed N --system-tokens T   (prints the text)
//   --extra JSON  fields added to every request body (e.g. '{"cache_prompt":true}')
//
// decode:     one stream at a time, `ignore_eos`, greedy. Decode speed is taken
//             between the first and the last chunk that carries generated text,
//             so prompt processing is excluded: (tokens - 1) / (t_last - t_first).
//             One warm-up request first; the median of the runs is reported.
// concurrent: S streams started together, each with its own prompt; total
//             tokens / wall time from the first request sent to the last stream
//             finished (prompt processing included, as a user sees it).
// ttft:       per round, a new ~T-token system prompt S (deterministic, seeded by
//             the round): conversation A = S + "a" (max_tokens 1): cold TTFT;
//             then conversation B = S + another question: TTFT with S already seen.
//             TTFT = request sent -> first chunk carrying a generated token.
//             --fillers N puts N other conversations (run together) between A and B.
//             --while-running N: A generates N tokens and B is sent as soon as A's
//             first token arrives, so A still holds its slot when B comes (the
//             prefix must be shared across slots, not found in an idle one).
//
// No dependencies beyond Node.js 20.

import http from 'node:http';
import { performance } from 'node:perf_hooks';

function parseArgs(argv) {
    const o = { _: [] };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a.startsWith('--')) {
            const k = a.slice(2);
            const v = argv[i + 1];
            if (v === undefined || v.startsWith('--')) o[k] = true;
            else { o[k] = v; i++; }
        } else o._.push(a);
    }
    return o;
}

function die(msg) {
    process.stderr.write(`client.mjs: ${msg}\n`);
    process.exit(1);
}

const median = (xs) => {
    const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
    if (!s.length) return null;
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/* ---- deterministic French-ish text ------------------------------------- */

function rng(seed) {
    let a = (seed >>> 0) || 1;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

const W = {
    det: ['le', 'la', 'les', 'un', 'une', 'des', 'ce', 'cette', 'chaque', 'notre', 'votre', 'leur'],
    noun: ['mairie', 'commune', 'habitant', 'conseil municipal', 'délibération', 'état civil',
        'acte de naissance', 'carte nationale d\'identité', 'passeport', 'service technique',
        'école primaire', 'cantine scolaire', 'bibliothèque', 'permis de construire',
        'déclaration préalable', 'plan local d\'urbanisme', 'cimetière', 'concession',
        'marché hebdomadaire', 'salle des fêtes', 'association', 'subvention', 'budget',
        'intercommunalité', 'département', 'région', 'préfecture', 'recensement',
        'liste électorale', 'procuration', 'voirie', 'éclairage public', 'déchetterie',
        'collecte des ordures', 'eau potable', 'assainissement', 'crèche', 'centre social',
        'agent', 'secrétaire de mairie', 'maire', 'adjoint', 'arrêté', 'registre', 'guichet',
        'formulaire', 'justificatif de domicile', 'rendez-vous', 'courrier', 'téléservice'],
    adj: ['municipal', 'communal', 'public', 'obligatoire', 'gratuit', 'payant', 'annuel',
        'provisoire', 'définitif', 'numérique', 'accessible', 'prioritaire', 'complet',
        'récent', 'officiel', 'local', 'intercommunal', 'simplifié', 'dématérialisé'],
    verb: ['doit', 'peut', 'accueille', 'délivre', 'instruit', 'vérifie', 'transmet', 'publie',
        'organise', 'finance', 'examine', 'enregistre', 'informe', 'oriente', 'conserve',
        'met à jour', 'prépare', 'signe', 'affiche', 'rappelle'],
    adv: ['chaque semaine', 'sur rendez-vous', 'en ligne', 'au guichet', 'avant le 31 mars',
        'dans un délai de deux mois', 'sans frais', 'par courrier', 'le mardi matin',
        'pendant les vacances scolaires', 'à titre exceptionnel', 'dès réception du dossier',
        'conformément au code général des collectivités territoriales', 'après avis du conseil'],
    conj: ['et', 'mais', 'puis', 'car', 'donc', 'ensuite', 'cependant', 'par ailleurs'],
};

function frenchText(seed, approxTokens) {
    const r = rng(seed);
    const pick = (a) => a[Math.floor(r() * a.length)];
    // About 3.5 characters per token with the Qwen2 vocabulary on this text
    // (measured; the servers report the exact prompt size).
    const target = Math.round(approxTokens * 3.5);
    let out = `Tu es l'assistant de la commune n° ${seed}. Voici le règlement intérieur des services.\n`;
    let para = 0;
    while (out.length < target) {
        const n = 1 + Math.floor(r() * 3);
        const parts = [];
        for (let i = 0; i < n; i++) {
            let p = `${pick(W.det)} ${pick(W.noun)} ${pick(W.adj)} ${pick(W.verb)} ${pick(W.det)} ${pick(W.noun)}`;
            if (r() < 0.6) p += ` ${pick(W.adv)}`;
            if (r() < 0.25) p += ` (article ${1 + Math.floor(r() * 400)}, ${1 + Math.floor(r() * 28)}/${1 + Math.floor(r() * 12)}/20${10 + Math.floor(r() * 16)})`;
            parts.push(p);
        }
        let s = parts.join(` ${pick(W.conj)} `);
        s = s[0].toUpperCase() + s.slice(1) + (r() < 0.1 ? ' ?' : '.');
        out += s + ' ';
        if (r() < 0.15) out += `\n\n${++para}. `;
    }
    return out.trim();
}

/* ---- HTTP + SSE ---------------------------------------------------------- */

// One connection per request: llama-server's HTTP library may close a
// connection after a streamed answer, and a reused socket would then hang up.
// Loopback connection setup costs microseconds, the same for both sides.
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

// Sends one streaming chat completion. Resolves with timings (ms, relative to
// the moment the request was sent) and what the server reported.
function streamChat(o, body, timeoutMs = 600000) {
    const url = new URL('/v1/chat/completions', o.base);
    const data = JSON.stringify(body);
    const headers = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) };
    if (o.key) headers.Authorization = `Bearer ${o.key}`;
    return new Promise((resolve, reject) => {
        const t0 = performance.now();
        const res = { t0, tFirst: null, tLast: null, tEnd: null, chunks: 0, contentChunks: 0,
            text: '', usage: null, timings: null, finish: null, tokenTimes: [] };
        const req = http.request(url, { method: 'POST', headers, agent }, (rsp) => {
            let buf = '';
            let errBody = '';
            if (rsp.statusCode !== 200) {
                rsp.setEncoding('utf8');
                rsp.on('data', (d) => { errBody += d; });
                rsp.on('end', () => reject(new Error(`HTTP ${rsp.statusCode}: ${errBody.slice(0, 500)}`)));
                return;
            }
            rsp.setEncoding('utf8');
            rsp.on('data', (d) => {
                const now = performance.now() - t0;
                buf += d;
                let i;
                while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
                    const ev = buf.slice(0, i);
                    buf = buf.slice(buf[i] === '\r' ? i + 4 : i + 2);
                    for (const line of ev.split(/\r?\n/)) {
                        if (!line.startsWith('data:')) continue;
                        const payload = line.slice(5).trim();
                        if (payload === '[DONE]') continue;
                        let j;
                        try { j = JSON.parse(payload); } catch { continue; }
                        if (j.error) {
                            // An error event after the generation started (llama-server
                            // sends one when its final parse of the answer fails) ends
                            // the answer: with `tolerate`, keep what was measured.
                            const msg = `server error in the stream: ${JSON.stringify(j.error)}`;
                            if (o.tolerate || res.tFirst !== null) { res.serverError = msg; res.tErr = now; continue; }
                            reject(new Error(msg));
                            req.destroy();
                            return;
                        }
                        res.chunks++;
                        if (j.usage) res.usage = j.usage;
                        if (j.timings) res.timings = j.timings;
                        const ch = (j.choices || [])[0];
                        if (!ch) continue;
                        const c = ch.delta && typeof ch.delta.content === 'string' ? ch.delta.content : '';
                        if (ch.finish_reason) res.finish = ch.finish_reason;
                        // A chunk "carries a generated token" when it has text,
                        // or when it ends the answer (a token was produced even if
                        // its bytes are still an incomplete UTF-8 sequence).
                        if (c.length || ch.finish_reason) {
                            if (res.tFirst === null) {
                                res.tFirst = now;
                                if (o.onFirst) o.onFirst();
                            }
                        }
                        if (c.length) {
                            res.contentChunks++;
                            res.tLast = now;
                            res.text += c;
                        }
                    }
                }
            });
            let lastData = 0;
            rsp.on('data', () => { lastData = performance.now() - t0; });
            rsp.on('end', () => { res.tEnd = performance.now() - t0; resolve(res); });
            // The server closed the stream before its end: say when, so that a
            // timeout can be told from a crash.
            rsp.on('error', (e) => {
                const now = performance.now() - t0;
                reject(new Error(`stream cut (${e.message}) ${(now / 1000).toFixed(1)} s after the request, ` +
                    `${((now - lastData) / 1000).toFixed(1)} s after the last data; ${res.chunks} chunk(s), ` +
                    `${res.contentChunks} with text, received`));
            });
        });
        req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
        req.on('error', reject);
        req.end(data);
    });
}

function chatBody(o, messages, maxTokens, extra = {}) {
    return {
        model: o.model,
        messages,
        stream: true,
        stream_options: { include_usage: true },
        max_tokens: maxTokens,
        temperature: 0,
        ignore_eos: true,
        ...(o.extra ? JSON.parse(o.extra) : {}),
        ...extra,
    };
}

const tokensOf = (r) => (r.usage && r.usage.completion_tokens) ||
    (r.timings && r.timings.predicted_n) || r.contentChunks;
const promptOf = (r) => (r.usage && r.usage.prompt_tokens) || (r.timings && r.timings.prompt_n) || null;
const cachedOf = (r) => {
    if (r.usage && r.usage.prompt_tokens_details && r.usage.prompt_tokens_details.cached_tokens != null)
        return r.usage.prompt_tokens_details.cached_tokens;
    if (r.timings && r.timings.cache_n != null) return r.timings.cache_n;
    return null;
};

const DECODE_PROMPT = 'Écris une longue histoire sur la mairie de Saint-Aubin et ses habitants.';

async function decode(o) {
    const tokens = +o.tokens || 128, runs = +o.runs || 3;
    const msgs = [{ role: 'user', content: DECODE_PROMPT }];
    await streamChat(o, chatBody(o, msgs, Math.min(16, tokens))); // warm-up
    const out = [];
    for (let i = 0; i < runs; i++) {
        const r = await streamChat(o, chatBody(o, msgs, tokens));
        const n = tokensOf(r);
        const dt = (r.tLast - r.tFirst) / 1000;
        out.push({ tokens: n, content_chunks: r.contentChunks, prompt_tokens: promptOf(r),
            ttft_s: r.tFirst / 1000, decode_s: dt, tok_s: n > 1 && dt > 0 ? (n - 1) / dt : null,
            finish: r.finish, server_error: r.serverError });
    }
    return { mode: 'decode', tokens, runs: out, median_tok_s: median(out.map((x) => x.tok_s)),
        errors: out.filter((x) => x.server_error).map((x) => x.server_error) };
}

async function concurrent(o) {
    const tokens = +o.tokens || 128, runs = +o.runs || 3, streams = +o.streams || 4;
    const mk = (k) => [{ role: 'user', content: `Flux ${k + 1} : ${DECODE_PROMPT} Chapitre ${k + 1}.` }];
    await streamChat(o, chatBody(o, mk(99), 8)); // warm-up
    const out = [];
    for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        const rs = await Promise.all([...Array(streams).keys()].map((k) => streamChat(o, chatBody(o, mk(k), tokens))));
        const wall = (performance.now() - t0) / 1000;
        const total = rs.reduce((s, r) => s + tokensOf(r), 0);
        // decode-only view: tokens after each stream's first one, over the span
        // from the earliest first token to the latest last token
        const starts = rs.map((r) => r.t0 - t0 + r.tFirst), ends = rs.map((r) => r.t0 - t0 + r.tLast);
        const span = (Math.max(...ends) - Math.min(...starts)) / 1000;
        out.push({ total_tokens: total, wall_s: wall, tok_s: total / wall,
            decode_span_tok_s: (total - streams) / span,
            per_stream: rs.map((r) => ({ tokens: tokensOf(r), ttft_s: r.tFirst / 1000, end_s: r.tEnd / 1000,
                server_error: r.serverError })) });
    }
    return { mode: 'concurrent', tokens, streams, runs: out, median_tok_s: median(out.map((x) => x.tok_s)),
        errors: out.flatMap((x) => x.per_stream.filter((p) => p.server_error).map((p) => p.server_error)) };
}

async function ttft(o) {
    const rounds = +o.rounds || 3, sysTokens = +o['system-tokens'] || 1500;
    const seed0 = +o.seed || 1;
    const fillers = +o.fillers || 0;
    const whileRunning = +o['while-running'] || 0;
    const errors = [];
    const attempt = async (what, body, opts = {}) => {
        try {
            const r = await streamChat({ ...o, ...opts }, body);
            if (r.serverError) errors.push(`${what}: ${r.serverError} (after the first token; timing kept)`);
            return r;
        } catch (e) {
            errors.push(`${what}: ${e.message}`);
            return null;
        }
    };
    // warm-up on an unrelated short prompt so that first-request costs (thread
    // start, allocations) are not charged to the cold measurement
    await streamChat(o, chatBody(o, [{ role: 'user', content: 'Bonjour.' }], 1));
    const out = [];
    for (let i = 0; i < rounds; i++) {
        const seed = seed0 + i;
        const S = frenchText(seed, sysTokens);
        // A has a single token: when llama-server's final parse of it fails
        // (an incomplete UTF-8 byte from random weights), its error event is
        // the end of that token's generation, and S is in its cache all the same.
        // A and B are two people (OpenAI's `user` field): LibreAIr shares
        // the system prompt between them and nothing else (its prompt cache
        // never lends one person's turns to another); llama-server ignores it.
        const bodyA = chatBody(o, [{ role: 'system', content: S }, { role: 'user', content: 'a' }], whileRunning || 1,
            { user: `bench-a-${seed}` });
        const bodyB = chatBody(o, [{ role: 'system', content: S },
            { role: 'user', content: 'Quels sont les horaires d\'ouverture de la mairie le samedi ?' }], 4,
            { user: `bench-b-${seed}` });
        if (whileRunning) {
            // B goes out the moment A's first token arrives; A keeps generating.
            let startB;
            const aFirst = new Promise((r) => { startB = r; });
            const aDone = attempt(`round ${seed} A`, bodyA, { tolerate: true, onFirst: () => startB() });
            const first = await Promise.race([aFirst.then(() => true), aDone.then(() => false)]);
            const b = first ? await attempt(`round ${seed} B`, bodyB) : null;
            const a = await aDone;
            const aRunning = a && b && a.tEnd !== null && (a.t0 + a.tEnd) > b.t0;
            if (b && !aRunning) errors.push(`round ${seed}: A ended before B was sent; raise --while-running`);
            out.push({ seed, system_chars: S.length, a_still_running: !!aRunning,
                cold_ttft_s: a && a.tFirst !== null ? a.tFirst / 1000 : null, cold_prompt_tokens: a && promptOf(a),
                cold_cached_tokens: a && cachedOf(a),
                warm_ttft_s: b && b.tFirst !== null ? b.tFirst / 1000 : null, warm_prompt_tokens: b && promptOf(b),
                warm_cached_tokens: b && cachedOf(b) });
            continue;
        }
        const a = await attempt(`round ${seed} A`, bodyA, { tolerate: true });
        // --fillers N: N other conversations between A and B, all at once, so
        // that with N slots every slot has since served someone else and S
        // must come from a cache that outlives the slot. Each has its own
        // text from the first word on (a server that picks slots by prompt
        // similarity must not put them all in one slot).
        if (fillers)
            await Promise.all([...Array(fillers).keys()].map((k) => attempt(`round ${seed} filler ${k + 1}`, chatBody(o,
                [{ role: 'user', content: frenchText(1000 * seed + k, 60).split('\n').slice(1).join(' ') }], 8))));
        const b = await attempt(`round ${seed} B`, bodyB);
        const aT = a ? (a.tFirst ?? a.tErr ?? null) : null;
        out.push({ seed, system_chars: S.length,
            cold_ttft_s: aT === null ? null : aT / 1000, cold_prompt_tokens: a && promptOf(a), cold_cached_tokens: a && cachedOf(a),
            warm_ttft_s: b && b.tFirst !== null ? b.tFirst / 1000 : null, warm_prompt_tokens: b && promptOf(b),
            warm_cached_tokens: b && cachedOf(b) });
    }
    return { mode: 'ttft', fillers, while_running: whileRunning, rounds: out, errors,
        failed_rounds: out.filter((x) => x.warm_ttft_s === null).length,
        median_cold_s: median(out.map((x) => x.cold_ttft_s)),
        median_warm_s: median(out.map((x) => x.warm_ttft_s)) };
}

async function main() {
    const o = parseArgs(process.argv.slice(2));
    const mode = o._[0];
    if (mode === 'system-prompt') {
        process.stdout.write(frenchText(+o.seed || 1, +o['system-tokens'] || 1500) + '\n');
        return;
    }
    if (!o.base || !o.model) die('--base and --model are required');
    let r;
    if (mode === 'decode') r = await decode(o);
    else if (mode === 'concurrent') r = await concurrent(o);
    else if (mode === 'ttft') r = await ttft(o);
    else die(`unknown mode '${mode}' (decode, concurrent, ttft, system-prompt)`);
    process.stdout.write(JSON.stringify(r) + '\n');
    agent.destroy();
}

main().catch((e) => die(e.message));
