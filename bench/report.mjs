// Turns the raw measurements of bench/run.sh (bench/out/raw/) into the
// markdown report: the table of ratios against targets, then the details that
// back each number, then the exact commands.
//
//   node bench/report.mjs RAW_DIR COMMANDS_FILE > results.md

import fs from 'node:fs';
import path from 'node:path';

const [raw, cmdsFile] = process.argv.slice(2);
if (!raw) {
    process.stderr.write('usage: node bench/report.mjs RAW_DIR [COMMANDS_FILE]\n');
    process.exit(2);
}

const read = (f) => { try { return fs.readFileSync(path.join(raw, f), 'utf8'); } catch { return null; } };
const json = (f) => { const s = read(f); try { return s ? JSON.parse(s) : null; } catch { return null; } };

const meta = json('meta.json') || {};
const lb = json('llama-bench.json');
const L = (m) => json(`libreair-${m}.json`);
const P = (m) => json(`llama-server-${m}.json`);

const fmt = (x, d = 1) => (x == null || !Number.isFinite(x) ? 'n/a' : x.toFixed(d));
const mib = (kb) => (kb == null ? null : kb / 1024);
const ratio = (a, b) => (a == null || b == null || !b ? null : a / b);
const verdict = (r, op, t) => (r == null ? 'n/a' : (op === '>=' ? r >= t : r <= t) ? 'PASS' : 'MISS');

function wrk(name) {
    const s = read(`${name}-wrk.txt`);
    if (!s) return null;
    const rps = /Requests\/sec:\s*([\d.]+)/.exec(s);
    const p99 = /^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(s);
    const p50 = /^\s*50%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(s);
    const non2xx = /Non-2xx or 3xx responses:\s*(\d+)/.exec(s);
    const sock = /Socket errors:([^\n]*)/.exec(s);
    const reqs = /(\d+) requests in/.exec(s);
    const ms = (m) => (m ? +m[1] * { us: 1e-3, ms: 1, s: 1e3, m: 6e4 }[m[2]] : null);
    return { rps: rps ? +rps[1] : null, p99_ms: ms(p99), p50_ms: ms(p50), requests: reqs ? +reqs[1] : null,
        non2xx: non2xx ? +non2xx[1] : 0, socket_errors: sock ? sock[1].trim() : null };
}

const lbRow = Array.isArray(lb) ? lb.find((r) => r.n_gen > 0) : null;
// The median of llama-bench's repetitions, like the median of runs taken on
// the servers (its mean, avg_ts, is in the details).
const lbTs = lbRow ? (median(lbRow.samples_ts || []) ?? lbRow.avg_ts) : null;
const tg = `tg${meta.tokens ?? 128}`;

const Ld = L('decode'), Pd = P('decode');
const Lc = L('concurrent'), Pc = P('concurrent');
const Lt = L('ttft'), Pt = P('ttft');
const Le = L('ttft-evicted'), Pe = P('ttft-evicted');
const Ls = L('ttft-shared'), Ps = P('ttft-shared');
// The rounds of the throughput measures alternate between the servers
// (bench/run.sh): the median over rounds, and each round's own ratio.
const medRuns = (d) => (d ? d.median_tok_s ?? median(d.runs.map((r) => r.tok_s)) : null);
const pairRatios = (a, b) => (a && b ? a.runs.map((r, i) => ratio(r.tok_s, b.runs[i]?.tok_s)).filter((x) => x != null) : []);
function median(xs) {
    const v = xs.filter((x) => x != null && Number.isFinite(x)).sort((a, b) => a - b);
    if (!v.length) return null;
    const m = v.length >> 1;
    return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}
// Share of the machine's CPU used by other processes during a measure.
const noise = (n) => json(`${n}-noise.json`)?.foreign ?? null;
const NOISY = 0.15;
const Lidle = json('libreair-idle-rss.json');
const Lrss = json('libreair-rss-one.json'), Prss = json('llama-server-rss-one.json');
const Lrss2 = json('libreair-rss-end.json'), Prss2 = json('llama-server-rss-end.json');
const Lw = wrk('libreair'), Pw = wrk('llama-server');

const rows = [];
const row = (id, what, a, b, peer, r, op, t, unit = '', noisy = []) => rows.push({ id, what, a, b, peer, r, op, t, unit, noisy });

const l1 = medRuns(Ld), p1 = medRuns(Pd);
row('1a', `single-stream decode, tok/s (HTTP stream) vs llama-bench ${tg}`, fmt(l1, 2), fmt(lbTs, 2), `llama-bench ${tg}`, ratio(l1, lbTs), '>=', 0.95, '', ['libreair-decode', 'llama-bench']);
row('1b', 'single-stream decode, tok/s (HTTP stream) vs llama-server', fmt(l1, 2), fmt(p1, 2), 'llama-server', ratio(l1, p1), '>=', 1.0, '', ['libreair-decode', 'llama-server-decode']);
const l2 = medRuns(Lc), p2 = medRuns(Pc);
row('2', `total tok/s, ${meta.slots ?? 4} concurrent streams`, fmt(l2, 2), fmt(p2, 2), `llama-server -np ${meta.slots ?? 4}`, ratio(l2, p2), '>=', 1.0, '', ['libreair-concurrent', 'llama-server-concurrent']);
const l3 = Lt?.median_warm_s, p3 = Pt?.median_warm_s;
row('3', `TTFT, new conversation, ~${meta.system_tokens ?? 1500}-token system prompt used just before by another, s`, fmt(l3, 3), fmt(p3, 3), 'llama-server', ratio(l3, p3), '<=', 0.3, '', ['libreair-ttft', 'llama-server-ttft']);
const l3e = Le?.median_warm_s, p3e = Pe?.median_warm_s;
row('3b', `the same, with ${meta.slots ?? 4} other conversations in between (every slot reused), s`, fmt(l3e, 3), fmt(p3e, 3), 'llama-server', ratio(l3e, p3e), '<=', 0.3, '', ['libreair-ttft-evicted', 'llama-server-ttft-evicted']);
const l3s = Ls?.median_warm_s, p3s = Ps?.median_warm_s;
row('3c', 'the same, while the first conversation is still generating (prefix shared across slots), s', fmt(l3s, 3), fmt(p3s, 3), 'llama-server', ratio(l3s, p3s), '<=', 0.3, '', ['libreair-ttft-shared', 'llama-server-ttft-shared']);
const l3c = median([Lt?.median_cold_s, Le?.median_cold_s]), p3c = median([Pt?.median_cold_s, Pe?.median_cold_s]);
row('3d', '(context) TTFT, same prompt cold, s', fmt(l3c, 3), fmt(p3c, 3), 'llama-server', ratio(l3c, p3c), null, null);
const li = mib(Lidle?.VmRSS);
row('4a', 'RSS idle, no model, MiB', fmt(li, 1), '—', '—', li, '<=', 20, ' MiB');
const l4 = mib(Lrss?.VmRSS), p4 = mib(Prss?.VmRSS);
row('4b', `RSS with the model, after one request, MiB (${meta.slots}×${meta.ctx_slot} vs -c ${meta.ctx_total} -np ${meta.slots})`, fmt(l4, 1), fmt(p4, 1), 'llama-server', ratio(l4, p4), '<=', 1.05);
row('5', 'GET /v1/models under wrk (-t2 -c64): req/s', fmt(Lw?.rps, 0), fmt(Pw?.rps, 0), 'llama-server (context)', null, null, null);
row('5', 'GET /v1/models under wrk (-t2 -c64): p99 latency, ms', fmt(Lw?.p99_ms, 2), fmt(Pw?.p99_ms, 2), 'llama-server (context)', null, null, null);

const out = [];
const p = (s = '') => out.push(s);
p(`# LibreAIr benchmarks${meta.quick ? ' (quick)' : ''} — ${meta.date ?? new Date().toISOString()}`);
p();
p(`- machine: ${meta.nproc} CPU(s), ${meta.cpu}, Linux ${meta.kernel}`);
p(`- model: \`${meta.model}\` (${meta.model_bytes ? (meta.model_bytes / 2 ** 20).toFixed(0) : '?'} MiB)`);
p(`- threads ${meta.threads} on both sides; ${meta.tokens} generated tokens per stream (ignore_eos, greedy); ` +
  `median of ${meta.runs} round(s), each after a warm-up, alternating between the servers (ABBA); TTFT median of ${meta.ttft_rounds} round(s)`);
p(`- libreair ${meta.git ?? ''}; peers from \`${meta.llama_bin}\``);
p();
p('| # | measure | LibreAIr | peer | peer value | ratio | target | result |');
p('|---|---|---:|---|---:|---:|---|---|');
const noisyRows = [];
for (const r of rows) {
    const isAbs = r.peer === '—';
    const rat = isAbs ? '—' : r.r == null ? (r.op ? 'n/a' : '—') : r.r.toFixed(2);
    const target = r.op ? `${r.op === '>=' ? '≥' : '≤'} ${r.t}${r.unit}` : '—';
    const busy = r.noisy.filter((n) => noise(n) > NOISY);
    const res = (r.op ? verdict(r.r, r.op, r.t) : '') + (busy.length ? ' †' : '');
    if (busy.length) noisyRows.push(`${r.id} (${busy.map((n) => `${n} ${(100 * noise(n)).toFixed(0)}%`).join(', ')})`);
    p(`| ${r.id} | ${r.what} | ${r.a} | ${r.peer} | ${r.b} | ${rat} | ${target} | ${res} |`);
}
p();
if (noisyRows.length)
    p(`† measured while other processes used more than ${100 * NOISY}% of the machine's CPU: ${noisyRows.join('; ')}. Rerun on a quiet machine before concluding.\n`);

// ---- details -----------------------------------------------------------------
p('## Details');
p();
if (lbRow) p(`- llama-bench ${tg}: median ${fmt(lbTs, 2)} tok/s, mean ${fmt(lbRow.avg_ts, 2)} ± ${fmt(lbRow.stddev_ts, 2)} (${lbRow.samples_ts?.map((x) => x.toFixed(2)).join(', ')}); build ${lbRow.build_commit ?? ''}, backend ${lbRow.backends ?? lbRow.backend ?? ''}`);
const runsLine = (n, d) => d && p(`- ${n} single stream: ` + d.runs.map((r) => `${fmt(r.tok_s, 2)} tok/s (${r.tokens} tokens, ${r.content_chunks} text chunks, TTFT ${fmt(r.ttft_s, 3)} s, prompt ${r.prompt_tokens ?? '?'} tokens, finish ${r.finish})`).join('; '));
runsLine('LibreAIr', Ld);
runsLine('llama-server', Pd);
const pairLine = (what, a, b) => {
    const r = pairRatios(a, b);
    if (r.length) p(`- ${what}, LibreAIr ÷ llama-server round by round: ${r.map((x) => x.toFixed(3)).join(', ')} (median ${fmt(median(r), 3)}, min ${fmt(Math.min(...r), 3)}, max ${fmt(Math.max(...r), 3)})`);
};
pairLine('single stream', Ld, Pd);
{
    // llama-bench's repetitions are taken one per round, between the servers'
    const ts = lbRow?.samples_ts || [];
    const r = Ld ? Ld.runs.map((x, i) => ratio(x.tok_s, ts[i])).filter((x) => x != null) : [];
    if (r.length) p(`- single stream, LibreAIr ÷ llama-bench round by round: ${r.map((x) => x.toFixed(3)).join(', ')} (median ${fmt(median(r), 3)}, min ${fmt(Math.min(...r), 3)}, max ${fmt(Math.max(...r), 3)})`);
}
const concLine = (n, d) => d && p(`- ${n} ${d.streams} streams: ` + d.runs.map((r) => `${fmt(r.tok_s, 2)} tok/s total (${r.total_tokens} tokens in ${fmt(r.wall_s, 2)} s; decode-only ${fmt(r.decode_span_tok_s, 2)} tok/s; per stream tokens ${r.per_stream.map((s) => s.tokens).join('/')}, TTFT ${r.per_stream.map((s) => fmt(s.ttft_s, 2)).join('/')} s)`).join('; '));
concLine('LibreAIr', Lc);
concLine('llama-server', Pc);
pairLine(`${Lc?.streams ?? 4} streams`, Lc, Pc);
const ttftLine = (n, d) => d && p(`- ${n} TTFT: ` + d.rounds.map((r) => `round ${r.seed}: cold ${fmt(r.cold_ttft_s, 3)} s (prompt ${r.cold_prompt_tokens ?? '?'}, cached ${r.cold_cached_tokens ?? '?'}), seen before ${fmt(r.warm_ttft_s, 3)} s (prompt ${r.warm_prompt_tokens ?? '?'}, cached ${r.warm_cached_tokens ?? '?'})`).join('; '));
ttftLine('LibreAIr', Lt);
ttftLine('llama-server', Pt);
ttftLine(`LibreAIr (${Le?.fillers ?? '?'} conversations in between)`, Le);
ttftLine(`llama-server (${Pe?.fillers ?? '?'} conversations in between)`, Pe);
ttftLine('LibreAIr (first conversation still generating)', Ls);
ttftLine('llama-server (first conversation still generating)', Ps);
const rssLine = (n, a, b) => (a || b) && p(`- ${n} memory (MiB): after one request VmRSS ${fmt(mib(a?.VmRSS))} (anon ${fmt(mib(a?.RssAnon))}, file ${fmt(mib(a?.RssFile))}); at the end VmRSS ${fmt(mib(b?.VmRSS))} (anon ${fmt(mib(b?.RssAnon))}, file ${fmt(mib(b?.RssFile))}), peak ${fmt(mib(b?.VmHWM))}`);
if (Lidle) p(`- LibreAIr idle without a model: VmRSS ${fmt(mib(Lidle.VmRSS))} MiB (anon ${fmt(mib(Lidle.RssAnon))}, file ${fmt(mib(Lidle.RssFile))})`);
rssLine('LibreAIr', Lrss, Lrss2);
rssLine('llama-server', Prss, Prss2);
const wrkLine = (n, w) => w && p(`- ${n} wrk /v1/models: ${fmt(w.rps, 0)} req/s, p50 ${fmt(w.p50_ms, 2)} ms, p99 ${fmt(w.p99_ms, 2)} ms, ${w.requests ?? '?'} requests, non-2xx ${w.non2xx}${w.socket_errors ? `, socket errors: ${w.socket_errors}` : ''}`);
wrkLine('LibreAIr', Lw);
wrkLine('llama-server', Pw);
if (Lw && Lw.non2xx) p(`- **warning**: ${Lw.non2xx} LibreAIr responses under wrk were not 2xx: req/s is not a success rate`);
for (const [n, d] of [['LibreAIr single stream', Ld], ['llama-server single stream', Pd], ['LibreAIr streams', Lc],
    ['llama-server streams', Pc], ['LibreAIr TTFT', Lt], ['llama-server TTFT', Pt], ['LibreAIr TTFT (in between)', Le],
    ['llama-server TTFT (in between)', Pe], ['LibreAIr TTFT (still generating)', Ls],
    ['llama-server TTFT (still generating)', Ps]])
    if (d?.errors?.length) p(`- ${n}: errors: ${d.errors.join('; ')}`);
const noiseFiles = fs.readdirSync(raw).filter((f) => f.endsWith('-noise.json')).sort();
if (noiseFiles.length)
    p('- CPU used by other processes during each measure (share of the machine): ' + noiseFiles.map((f) => {
        const n = f.replace(/-noise\.json$/, '');
        return `${n} ${(100 * noise(n)).toFixed(0)}%`;
    }).join(', '));
p();

const failures = (read('failures.txt') || '').split('\n').filter(Boolean);
if (failures.length) {
    p('## Could not run');
    p();
    for (const f of failures) p(`- ${f}`);
    p();
}

const extras = read('extras.md');
if (extras && extras.trim()) {
    p('## Other benchmarks');
    p(extras.trimEnd());
    p();
}

if (cmdsFile) {
    let cmds = '';
    try { cmds = fs.readFileSync(cmdsFile, 'utf8'); } catch { /* none */ }
    p('## Commands');
    p();
    p('```');
    p(cmds.trimEnd());
    p('```');
}
process.stdout.write(out.join('\n') + '\n');
