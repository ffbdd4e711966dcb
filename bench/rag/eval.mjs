// Scores a run file of bench/rag against the gold passages of a question set:
// R@1, R@5, R@10, MRR@10 and the latency percentiles of the run.
//
//   node bench/rag/eval.mjs QUESTIONS.jsonl RUNFILE > metrics.json
//
// RUNFILE has one line per question: <question id> TAB <ms> TAB <id1,id2,...>
// (best first; ids are passage ids, i.e. document names without ".txt"). A
// question missing from the run counts as a miss, so a run that lost
// questions cannot look better than it is.
import fs from 'node:fs';

const [qfile, runfile] = process.argv.slice(2);
if (!qfile || !runfile) {
    process.stderr.write('usage: node bench/rag/eval.mjs QUESTIONS.jsonl RUNFILE\n');
    process.exit(2);
}
const questions = fs.readFileSync(qfile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const run = new Map();
const lat = [];
for (const line of fs.readFileSync(runfile, 'utf8').split('\n')) {
    if (!line) continue;
    const [qid, ms, ids] = line.split('\t');
    run.set(qid, ids ? ids.split(',') : []);
    lat.push(Number(ms));
}
let r1 = 0, r5 = 0, r10 = 0, mrr = 0, missing = 0;
for (const q of questions) {
    const got = run.get(q.id);
    if (!got) { missing++; continue; }
    const gold = new Set(q.gold_ids);
    const rank = got.slice(0, 10).findIndex((id) => gold.has(id));
    if (rank < 0) continue;
    if (rank < 1) r1++;
    if (rank < 5) r5++;
    r10++;
    mrr += 1 / (rank + 1);
}
lat.sort((a, b) => a - b);
const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.ceil((p / 100) * lat.length) - 1)] : null);
const n = questions.length;
process.stdout.write(JSON.stringify({
    questions: n, answered: n - missing,
    r1: r1 / n, r5: r5 / n, r10: r10 / n, mrr10: mrr / n,
    p50_ms: pct(50), p99_ms: pct(99),
}) + '\n');
