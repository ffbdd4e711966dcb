// Every error the API can return has a stable error.code, and the console
// and chat page have a sentence for each, in French and in English (issue 15,
// item 2). Two halves:
// - static: every code the C sources can send (the code argument of
//   http_fail, chat_fail and the assistant parser's fail_code, the default
//   code of each error kind in core/err.h, codes written into JSON directly)
//   has 'err.<code>' in both languages of web/assets/i18n.js, and the table
//   holds no code the server never sends;
// - live: a real server answers a sweep of bad requests; each error has a
//   code, and the console's own errText (web/assets/lib.js) turns it into the
//   table's sentence followed by the server's detail, in both languages.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, STORIES, SRC } from './lib/server.mjs';

const CALLS = { http_fail: 3, chat_fail: 3, fail_code: 1 }; // function: index of its code argument

// The arguments of the call whose '(' is at s[open], split at top-level commas.
function callArgs(s, open) {
  const out = [];
  let depth = 0, cur = '', quote = null;
  for (let i = open + 1; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      cur += c;
      if (c === '\\') cur += s[++i];
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'") { quote = c; cur += c; continue; }
    if (c === '(') depth++;
    if (c === ')' && depth-- === 0) { out.push(cur.trim()); return out; }
    if (c === ',' && depth === 0) { out.push(cur.trim()); cur = ''; continue; }
    cur += c;
  }
  return out;
}

function* sources(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (/\.[ch]$/.test(e.name)) yield p;
  }
}

// code -> where it is sent from
function serverCodes() {
  const codes = new Map();
  const unresolved = [];
  for (const file of sources(path.join(SRC, 'src'))) {
    const s = fs.readFileSync(file, 'utf8').replace(/\\\n/g, ' \n'); // macro continuations
    const where = (i) => `${path.relative(SRC, file)}:${s.slice(0, i).split('\n').length}`;
    for (const [fn, idx] of Object.entries(CALLS)) {
      for (const m of s.matchAll(new RegExp(`\\b${fn}\\s*\\(`, 'g'))) {
        const lineStart = s.lastIndexOf('\n', m.index) + 1;
        if (/^\s*(static\s+)?(enum|const|void|int|bool)\b/.test(s.slice(lineStart, m.index))) continue; // its definition
        if (/^\s*#\s*define\b/.test(s.slice(lineStart, m.index))) continue;
        const arg = callArgs(s, m.index + m[0].length - 1)[idx];
        if (arg === undefined || arg === 'NULL') continue; // NULL: the default code of the error kind
        const lit = arg.match(/^"([a-z0-9_]+)"$/);
        if (lit) codes.set(lit[1], where(m.index));
        else unresolved.push(`${where(m.index)}: ${arg}`);
      }
    }
    for (const m of s.matchAll(/\bX\(LAIR_\w+,/g)) { // LAIR_ERR_LIST: the 6th field
      const lit = (callArgs(s, m.index + 1)[5] || '').match(/^"([a-z0-9_]+)"$/);
      if (lit) codes.set(lit[1], where(m.index));
    }
    for (const m of s.matchAll(/"code",\s*"([a-z0-9_]+)"/g)) codes.set(m[1], where(m.index));
    // a code chosen in an expression: const char *code = x ? "a" : "b";
    for (const m of s.matchAll(/\bcode\s*=\s*([^;]*);/g)) {
      for (const lit of m[1].matchAll(/"([a-z][a-z0-9_]*)"/g)) codes.set(lit[1], where(m.index));
    }
  }
  return { codes, unresolved };
}

// web/assets/*.js are ES modules for the browser: loaded here as they are,
// with the two browser globals lib.js touches.
let store = {};
globalThis.localStorage = { getItem: (k) => store[k] ?? null, setItem: (k, v) => { store[k] = String(v); } };
globalThis.sessionStorage = globalThis.localStorage;
const { dict } = await import(path.join(SRC, 'web/assets/i18n.js'));
const lib = await import(path.join(SRC, 'web/assets/lib.js'));

test('every code the server can send has a sentence in French and in English', () => {
  const { codes, unresolved } = serverCodes();
  assert.ok(codes.size >= 40, `only ${codes.size} codes found: the scan is broken`);
  // codes passed through variables must come from literals the scan sees
  for (const u of unresolved) assert.match(u, /err(->|\.)code/, `a code the scan cannot read: ${u}`);
  const missing = [];
  for (const [code, where] of codes) {
    for (const l of ['fr', 'en']) if (!dict[l][`err.${code}`]) missing.push(`${l} err.${code} (sent at ${where})`);
  }
  assert.deepEqual(missing, [], `codes without a sentence:\n${missing.join('\n')}`);
  const stale = Object.keys(dict.fr).concat(Object.keys(dict.en))
    .filter((k) => k.startsWith('err.') && !codes.has(k.slice(4)));
  assert.deepEqual([...new Set(stale)], [], 'sentences for codes the server never sends');
});

let srv, admin;
before(async () => {
  srv = await startServer(['--model', `stories=${STORIES}`, '--slots', '1', '--threads', '1']);
  const r = await fetch(`${srv.url}/api/v1/tenants`, {
    method: 'POST', headers: { Authorization: `Bearer ${srv.key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ admin_key: true, slug: 'ville', name: 'Ville' }),
  });
  admin = (await r.json()).admin_key;
});
after(async () => { await srv?.stop(); });

test('each error of a sweep of bad requests has a code the console translates', async () => {
  const J = { 'Content-Type': 'application/json' };
  const as = (key) => ({ Authorization: `Bearer ${key}` });
  const cases = [
    ['GET', '/v1/models', {}, undefined, 'invalid_api_key'],
    ['GET', '/v1/models', as('lair_nope'), undefined, 'invalid_api_key'],
    ['POST', '/v1/chat/completions', { ...as(admin), ...J }, '{not json', 'invalid_json'],
    ['POST', '/v1/chat/completions', { ...as(admin), ...J }, '{"model":"nope","messages":[{"role":"user","content":"x"}]}', 'model_not_found'],
    ['POST', '/v1/chat/completions', { ...as(admin), ...J }, '{"model":"stories","messages":[{"role":"user","content":"x"}],"logit_bias":{"1":2}}', null],
    ['POST', '/api/v1/assistants', { ...as(admin), ...J }, '{"slug":"a","model":"nope","instructions":"x"}', 'unknown_model'],
    ['POST', '/api/v1/assistants', { ...as(admin), ...J }, '{"slug":"a","model":"stories","instructions":"x","colour":1}', null],
    ['GET', '/api/v1/assistants/none', as(admin), undefined, 'assistant_not_found'],
    ['GET', '/api/v1/knowledge-bases/none', as(admin), undefined, 'knowledge_base_not_found'],
    ['POST', '/api/v1/tenants', { ...as(admin), ...J }, '{"slug":"x"}', 'forbidden'],
    ['POST', '/api/v1/tenants', { ...as(srv.key), ...J }, '{"slug":"ville","name":"V"}', 'tenant_exists'],
    ['DELETE', '/v1/models', as(admin), undefined, 'method_not_allowed'],
    ['GET', '/api/v1/nothing-here', as(admin), undefined, null],
    ['GET', '/api/v1/conversations/999999', as(admin), undefined, 'conversation_not_found'],
  ];
  const seen = new Set();
  for (const [method, p, headers, body, want] of cases) {
    const res = await fetch(`${srv.url}${p}`, { method, headers, body });
    assert.ok(res.status >= 400, `${method} ${p}: ${res.status}`);
    const e = (await res.json()).error;
    assert.equal(typeof e.code, 'string', `${method} ${p} (${res.status}): no code in ${JSON.stringify(e)}`);
    if (want) assert.equal(e.code, want, `${method} ${p}`);
    seen.add(e.code);
    const err = new lib.ApiError(res.status, { error: e });
    for (const l of ['fr', 'en']) {
      store = { 'lair.lang': l };
      const text = lib.errText(err);
      const sentence = dict[l][`err.${e.code}`];
      assert.ok(sentence, `${l}: no sentence for ${e.code}`);
      assert.ok(text.startsWith(sentence), `${l} ${e.code}: "${text}" does not start with its sentence`);
      assert.ok(text.includes(e.message), `${l} ${e.code}: the server's detail is lost in "${text}"`);
    }
  }
  assert.ok(seen.size >= 10, `only ${seen.size} distinct codes in the sweep`);
});
