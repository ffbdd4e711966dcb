// Rebuilds the service-public.fr fiches of ../shared/data/spf as whole
// documents with their section headings, for bench/rag/headings.sh: does
// weighting a chunk's heading path above its body (BM25F) help on real
// administrative pages with headings? The dev passages are cut from the
// fiches without their markup, so the headings are recognised again here.
//
//   node bench/rag/fiches.mjs CORPUS.jsonl QUESTIONS.jsonl OUTDIR
//     -> OUTDIR/md/<fiche>.md    the fiche, its headings as "## " lines
//        OUTDIR/txt/<fiche>.txt  the same text without the markup
//        OUTDIR/questions.jsonl  the dev questions, gold_ids = their fiches
//        stdout: {"fiches","headings","bytes"}
//
// A fiche is its passages in order (p0, p1…, and the sections' s0_p0…), the
// line that one passage repeats from the end of the one before kept once. A
// heading is a line of at most eight words that starts with a capital
// letter, ends without punctuation, is not a list item (those stand between
// blank lines in these texts) and is followed by a line of text — the way
// the pages' section titles ("Indemnités", "Congés payés", "Retour dans
// l'entreprise") come out in the passages. A fiche's title is its question
// and is left out of the corpus (../shared/data/README.md): only section
// headings are marked.
import fs from 'node:fs';
import path from 'node:path';

const [corpus, questions, out] = process.argv.slice(2);
if (!out) {
    process.stderr.write('usage: node bench/rag/fiches.mjs CORPUS.jsonl QUESTIONS.jsonl OUTDIR\n');
    process.exit(2);
}
const fiches = new Map();
for (const line of fs.readFileSync(corpus, 'utf8').split('\n')) {
    if (!line) continue;
    const p = JSON.parse(line);
    if (!/^[A-Za-z0-9_-]+$/.test(p.doc_id)) throw new Error('unexpected fiche id ' + p.doc_id);
    if (!fiches.has(p.doc_id)) fiches.set(p.doc_id, []);
    fiches.get(p.doc_id).push(p);
}
// passage order inside a fiche: the id's numbers, in order ("F1_s1_p2")
const key = (id) => id.split('_').slice(1).map((x) => x.replace(/^[a-z]+/, '').padStart(4, '0')).join('.');
const isHeading = (lines, i) => {
    const l = lines[i].trim();
    const before = i > 0 ? lines[i - 1].trim() : '';
    const after = i + 1 < lines.length ? lines[i + 1].trim() : '';
    if (!l || !after || (i > 0 && !before && i + 1 < lines.length && !after)) return false;
    if (i > 0 && !before) return false; /* a list item or a lone line */
    return l.split(/\s+/).length <= 8 && /^\p{Lu}/u.test(l) && !/[.:;,!?)]$/.test(l);
};
fs.mkdirSync(path.join(out, 'md'), { recursive: true });
fs.mkdirSync(path.join(out, 'txt'), { recursive: true });
let headings = 0, bytes = 0;
for (const [id, ps] of fiches) {
    ps.sort((a, b) => (key(a.id) < key(b.id) ? -1 : 1));
    const lines = [];
    for (const p of ps) {
        const ls = p.text.split('\n');
        // the line cut at the end of the passage before comes again whole
        if (lines.length && ls.length && ls[0].startsWith(lines[lines.length - 1].trim()))
            lines.pop();
        lines.push(...ls);
    }
    const md = lines.map((l, i) => (i > 0 && isHeading(lines, i) ? (headings++, `\n## ${l.trim()}\n`) : l));
    fs.writeFileSync(path.join(out, 'md', id + '.md'), md.join('\n') + '\n');
    const txt = lines.join('\n') + '\n';
    fs.writeFileSync(path.join(out, 'txt', id + '.txt'), txt);
    bytes += Buffer.byteLength(txt);
}
const qs = fs.readFileSync(questions, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
fs.writeFileSync(path.join(out, 'questions.jsonl'),
    qs.map((q) => JSON.stringify({ id: q.id, question: q.question, gold_ids: q.gold_doc_ids })).join('\n') + '\n');
process.stdout.write(JSON.stringify({ fiches: fiches.size, headings, bytes }) + '\n');
