// Writes a question set with one typo per question, reproducibly: the same
// seed gives the same file on every machine.
//
//   node bench/rag/typos.mjs [--seed N] QUESTIONS.jsonl > QUESTIONS-typos.jsonl
//   node bench/rag/typos.mjs --no-accents QUESTIONS.jsonl > QUESTIONS-noaccents.jsonl
//
// In each question, one content word (four letters or more, not a function or
// question word) is picked, and one edit is made to it, picked among those
// that change it:
//   drop    a letter removed           naissance → naisance
//   double  a letter doubled           grise     → grisse
//   swap    two neighbours exchanged   mariage   → mairage
//   accent  an accent removed          médiation → mediation
// The word's first letter is left alone for drop and swap (people rarely
// mistype it, and spellers that index by first letter would otherwise be
// handed an impossible case); every other position is equally likely.
// Each output line is the input object with "question" replaced and a
// "typo" field {"word","became","edit"} added. Default seed: 18 (the issue
// that asked for it). A question without a content word is kept as it is,
// with "typo": null (counted on stderr). --no-accents instead removes every
// accent of every question (é → e, ç → c), as typed on a keyboard without
// them; nothing random.
import fs from 'node:fs';

const args = process.argv.slice(2);
let seed = 18;
if (args[0] === '--no-accents' && args.length === 2) {
    for (const line of fs.readFileSync(args[1], 'utf8').split('\n').filter(Boolean)) {
        const q = JSON.parse(line);
        q.question = q.question.normalize('NFD').replace(/\p{M}/gu, '').normalize('NFC');
        process.stdout.write(JSON.stringify(q) + '\n');
    }
    process.exit(0);
}
if (args[0] === '--seed') {
    seed = Number(args[1]);
    args.splice(0, 2);
}
if (args.length !== 1 || !Number.isInteger(seed)) {
    process.stderr.write('usage: node bench/rag/typos.mjs [--seed N] QUESTIONS.jsonl\n');
    process.exit(2);
}

// mulberry32: a small, well-mixed 32-bit generator, the same in every JS engine.
function rng(s) {
    let a = s >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}
const rand = rng(seed);
const pick = (xs) => xs[Math.floor(rand() * xs.length)];

// Words that carry no topic: a typo there tests nothing.
const FUNCTION = new Set(`
    avec dans pour sans sous chez entre vers depuis pendant après avant selon contre
    cette leur leurs elle elles nous vous ils sont était sera seront avez avons
    être avoir fait faire faut peut peux puis dois doit doivent peuvent
    quel quelle quels quelles quand combien comment pourquoi quoi lequel laquelle
    lesquels lesquelles est-ce qu'est-ce celui celle ceux ceci cela votre notre
    mais donc alors aussi plus moins très tout tous toute toutes même autre autres
    quelque quelques chaque ainsi encore déjà`.split(/\s+/).filter(Boolean));

const ACCENTS = { à: 'a', â: 'a', ä: 'a', é: 'e', è: 'e', ê: 'e', ë: 'e', î: 'i', ï: 'i',
    ô: 'o', ö: 'o', ù: 'u', û: 'u', ü: 'u', ÿ: 'y', ç: 'c' };

// The edits that change word (an array of characters), as functions.
function edits(w) {
    const out = [];
    const pos = (from) => Array.from({ length: w.length - from }, (_, i) => i + from);
    out.push(['drop', () => { const i = pick(pos(1)); return w.slice(0, i).concat(w.slice(i + 1)); }]);
    out.push(['double', () => { const i = pick(pos(0)); return w.slice(0, i + 1).concat(w.slice(i)); }]);
    const swaps = pos(1).filter((i) => i + 1 < w.length && w[i] !== w[i + 1]);
    if (swaps.length)
        out.push(['swap', () => { const i = pick(swaps); const v = w.slice(); [v[i], v[i + 1]] = [v[i + 1], v[i]]; return v; }]);
    const acc = pos(0).filter((i) => ACCENTS[w[i].toLowerCase()]);
    if (acc.length)
        out.push(['accent', () => { const i = pick(acc); const v = w.slice(); v[i] = ACCENTS[v[i].toLowerCase()]; return v; }]);
    return out;
}

let none = 0;
const lines = fs.readFileSync(args[0], 'utf8').split('\n').filter(Boolean);
for (const line of lines) {
    const q = JSON.parse(line);
    const words = [];
    for (const m of q.question.matchAll(/\p{L}+/gu)) {
        const chars = Array.from(m[0]);
        if (chars.length >= 4 && !FUNCTION.has(m[0].toLowerCase()) && !/^[A-Z]+$/.test(m[0]))
            words.push({ at: m.index, text: m[0], chars });
    }
    if (!words.length) {
        none++;
        process.stdout.write(JSON.stringify({ ...q, typo: null }) + '\n');
        continue;
    }
    const w = pick(words);
    const [edit, fn] = pick(edits(w.chars));
    const became = fn().join('');
    const question = q.question.slice(0, w.at) + became + q.question.slice(w.at + w.text.length);
    process.stdout.write(JSON.stringify({ ...q, question, typo: { word: w.text, became, edit } }) + '\n');
}
if (none) process.stderr.write(`typos.mjs: ${none} of ${lines.length} questions have no content word (kept as they are)\n`);
