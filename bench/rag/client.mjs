// The HTTP side of bench/rag: uploads a folder of passage files (.txt, or
// .md for bench/rag/headings.sh) to a
// knowledge base through the multipart documents endpoint and waits for the
// ingestion jobs, then runs the dev questions through the search endpoint.
//
//   node bench/rag/client.mjs upload --base URL --key KEY --kb SLUG --dir DIR [--batch N]
//       -> stdout: {"files","bytes","seconds","upload_seconds","jobs","errors"}
//          (upload_seconds: until the last upload was acknowledged, jobs still running)
//   node bench/rag/client.mjs search --base URL --key KEY --kb SLUG --questions FILE --out RUNFILE
//       -> RUNFILE: <question id> TAB <ms> TAB <id1,...> (document names without ".txt"/".md")
//
// One connection, kept alive, one request at a time: search latency is the
// wall time of one POST .../search, as a user of the API sees it.
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';

function args(argv) {
    const o = { _: [] };
    for (let i = 0; i < argv.length; i++) {
        if (argv[i].startsWith('--')) o[argv[i].slice(2)] = argv[++i];
        else o._.push(argv[i]);
    }
    return o;
}
const opt = args(process.argv.slice(2));
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request(method, url, headers, body) {
    return new Promise((resolve, reject) => {
        const req = http.request(url, { method, headers, agent }, (res) => {
            const parts = [];
            res.on('data', (d) => parts.push(d));
            res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(parts).toString('utf8') }));
        });
        req.on('error', reject);
        if (body) req.write(body);
        req.end();
    });
}

async function api(method, p, json) {
    const headers = { Authorization: `Bearer ${opt.key}` };
    let body;
    if (json !== undefined) {
        body = Buffer.from(JSON.stringify(json));
        headers['Content-Type'] = 'application/json';
        headers['Content-Length'] = body.length;
    }
    const r = await request(method, opt.base + p, headers, body);
    let v = null;
    try { v = JSON.parse(r.body); } catch { /* not JSON */ }
    return { status: r.status, json: v, text: r.body };
}

// multipart/form-data with one part named "file" per file
function multipart(files) {
    const boundary = '----lairbench' + Math.random().toString(16).slice(2);
    const chunks = [];
    for (const f of files) {
        chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${f.name}"\r\n` +
            'Content-Type: text/plain; charset=utf-8\r\n\r\n'));
        chunks.push(f.data, Buffer.from('\r\n'));
    }
    chunks.push(Buffer.from(`--${boundary}--\r\n`));
    return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${boundary}` };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function upload() {
    const names = fs.readdirSync(opt.dir).filter((n) => /\.(txt|md)$/.test(n)).sort();
    const batch = Number(opt.batch || 250);
    let bytes = 0;
    const jobs = [];
    const t0 = performance.now();
    for (let i = 0; i < names.length; i += batch) {
        const files = names.slice(i, i + batch).map((name) => {
            const data = fs.readFileSync(path.join(opt.dir, name));
            bytes += data.length;
            return { name, data };
        });
        const mp = multipart(files);
        const r = await request('POST', `${opt.base}/api/v1/knowledge-bases/${opt.kb}/documents`,
            { Authorization: `Bearer ${opt.key}`, 'Content-Type': mp.type, 'Content-Length': mp.body.length }, mp.body);
        let v = null;
        try { v = JSON.parse(r.body); } catch { /* not JSON */ }
        if (r.status >= 300 || !v || v.job_id == null)
            throw new Error(`upload of files ${i}..${i + files.length} answered ${r.status}: ${r.body.slice(0, 300)}`);
        jobs.push(v.job_id);
    }
    const uploaded = (performance.now() - t0) / 1000;
    // wait for every job; no fixed sleeps as synchronisation: poll the state
    const errors = [];
    for (const id of jobs) {
        for (;;) {
            const r = await api('GET', `/api/v1/jobs/${id}`);
            if (r.status !== 200) throw new Error(`GET /api/v1/jobs/${id} answered ${r.status}: ${r.text.slice(0, 300)}`);
            if (r.json.state === 'done' || r.json.state === 'failed') {
                for (const e of r.json.errors || []) errors.push(e);
                if (r.json.state === 'failed') throw new Error(`job ${id} failed: ${JSON.stringify(r.json).slice(0, 300)}`);
                break;
            }
            await sleep(50);
        }
    }
    const seconds = (performance.now() - t0) / 1000;
    process.stdout.write(JSON.stringify({ files: names.length, bytes, seconds, upload_seconds: uploaded, jobs: jobs.length, errors: errors.length }) + '\n');
}

async function search() {
    const qs = fs.readFileSync(opt.questions, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const out = fs.openSync(opt.out, 'w');
    // a few warm-up requests, not counted: the first connection and statement
    for (const q of qs.slice(0, 5)) await api('POST', `/api/v1/knowledge-bases/${opt.kb}/search`, { query: q.question, top_k: 10 });
    for (const q of qs) {
        const t0 = performance.now();
        const r = await api('POST', `/api/v1/knowledge-bases/${opt.kb}/search`, { query: q.question, top_k: 10 });
        const ms = performance.now() - t0;
        if (r.status !== 200) throw new Error(`search answered ${r.status}: ${r.text.slice(0, 300)}`);
        const ids = r.json.results.map((x) => String(x.document).replace(/\.(txt|md)$/, ''));
        fs.writeSync(out, `${q.id}\t${ms.toFixed(4)}\t${ids.join(',')}\n`);
    }
    fs.closeSync(out);
}

const cmd = opt._[0];
(cmd === 'upload' ? upload() : cmd === 'search' ? search() : Promise.reject(new Error('usage: client.mjs upload|search ...')))
    .catch((e) => { process.stderr.write(`bench/rag/client.mjs: ${e.message}\n`); process.exit(1); });
