// Models served elsewhere, with real peers: two llama-server processes built
// from the pinned llama.cpp (scripts/llama.sh tools) and another LibreAIr,
// each behind the project's fault proxy (tests/e2e/lib/fault_proxy.mjs). The
// official openai client talks to the gateway unchanged. Tried: routing and
// affinity, an upstream's 500 and 429 (Retry-After honoured), a connection
// refused, a stream cut mid-answer (continued elsewhere, or ended with an
// error event when no upstream is left), kill -9 of an upstream (ejected,
// then back after a health check), a client that leaves (the upstream
// request is cancelled), the fallback to the embedded model, and personal
// data kept from a remote upstream (with a stand-in model that echoes what
// it receives: the one thing a real model cannot be asked to do reliably).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { SRC, STORIES, startServer } from './lib/server.mjs';
import { startProxy, startEchoUpstream } from './lib/fault_proxy.mjs';

let tools, dir, peers = [], proxies = [], lair, client, backup, echo;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function llamaServer(port) {
  const proc = spawn(join(tools, 'llama-server'), ['-m', STORIES, '--host', '127.0.0.1', '--port', String(port),
    '-c', '2048', '-np', '2', '-t', '1', '--no-webui'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  for (let i = 0; i < 600; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      if (r.status === 200) return { proc, port, url: `http://127.0.0.1:${port}` };
    } catch { /* not yet */ }
    if (proc.exitCode !== null) throw new Error(`llama-server exited: ${err.slice(-2000)}`);
    await sleep(100);
  }
  throw new Error('llama-server did not start');
}

const freePort = () => 20000 + Math.floor(Math.random() * 20000);

async function metrics(url) {
  return (await fetch(`${url}/metrics`)).text();
}

function series(text, name, label) {
  let sum = 0;
  for (const l of text.split('\n'))
    if (l.startsWith(name + '{') && (!label || l.includes(label))) sum += Number(l.split(' ').pop());
  return sum;
}

async function chat(c, extra = {}) {
  return c.chat.completions.create({ model: 'pool', max_tokens: 12, temperature: 0,
    messages: [{ role: 'user', content: 'Once upon a time' }], ...extra });
}

before(async () => {
  tools = execFileSync(join(SRC, 'scripts', 'llama.sh'), ['tools'], { encoding: 'utf8' }).trim().split('\n').pop();
  dir = mkdtempSync(join(tmpdir(), 'lair-up-'));
  for (let i = 0; i < 2; i++) {
    const peer = await llamaServer(freePort());
    peers.push(peer);
    proxies.push(await startProxy(peer.url));
  }
  // another LibreAIr, reached with its operator key read from a file
  backup = await startServer(['--model', `stories=${STORIES}`, '--slots', '2', '--ctx', '512', '--threads', '1']);
  writeFileSync(join(dir, 'backup.key'), backup.key + '\n', { mode: 0o600 });
  proxies.push(await startProxy(backup.url));
  echo = await startEchoUpstream({ chunk: 3 });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    models: [
      { name: 'pool', ctx: 2048, health_interval_s: 1, fallback: ['local'],
        upstreams: [
          { url: `${proxies[0].url}/v1`, model: 'stories', max_concurrent: 4, first_byte_timeout_ms: 5000, idle_timeout_ms: 5000 },
          { url: `${proxies[1].url}/v1`, model: 'stories', max_concurrent: 4, first_byte_timeout_ms: 5000, idle_timeout_ms: 5000 },
        ] },
      { name: 'solo', health_interval_s: 1,
        upstreams: [{ url: `${proxies[2].url}/v1`, model: 'stories', api_key_file: join(dir, 'backup.key') }] },
      { name: 'far', upstreams: [{ url: `${echo.url}/v1`, model: 'echo', zone: 'remote' }] },
      { name: 'local', path: STORIES, slots: 1, ctx: 512 },
    ],
  }));
  lair = await startServer(['--config', join(dir, 'config.json'), '--threads', '1', '--tenant-raw-models']);
  client = new OpenAI({ apiKey: lair.key, baseURL: `${lair.url}/v1`, maxRetries: 0 });
});

after(async () => {
  await lair?.stop();
  await backup?.stop();
  for (const p of proxies) await p.close();
  await echo?.close();
  for (const p of peers) if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test('the official client gets answers, whole and streamed, through a pool of llama-servers', async () => {
  const r = await chat(client);
  assert.ok(r.choices[0].message.content.length > 0);
  assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0);
  const s = await chat(client, { stream: true, stream_options: { include_usage: true } });
  let text = '', finish = null;
  for await (const ch of s) {
    text += ch.choices[0]?.delta?.content ?? '';
    finish = ch.choices[0]?.finish_reason ?? finish;
  }
  assert.ok(text.length > 0);
  assert.equal(finish, 'length');
});

test('another LibreAIr serves as an upstream, with its key read from a file', async () => {
  const r = await client.chat.completions.create({ model: 'solo', max_tokens: 8, temperature: 0,
    messages: [{ role: 'user', content: 'Lily' }] });
  assert.ok(r.choices[0].message.content.length > 0);
  const body = JSON.parse(proxies[2].recorded.at(-1).body);
  assert.equal(body.model, 'stories');
  const up = await (await fetch(`${lair.url}/api/v1/upstreams`, { headers: { Authorization: `Bearer ${lair.key}` } })).json();
  assert.ok(!JSON.stringify(up).includes(backup.key), 'a key must never be shown');
});

test('load is spread over the pool, and a conversation keeps its upstream', async () => {
  for (const p of proxies) p.clear();
  await Promise.all([...Array(8).keys()].map((k) => chat(client, { user: `person-${k}` })));
  const a = proxies[0].recorded.length, b = proxies[1].recorded.filter((x) => x.method === 'POST').length;
  assert.ok(proxies[0].recorded.filter((x) => x.method === 'POST').length > 0 && b > 0, `spread: ${a} / ${b}`);
  // the same person, one after another: the same upstream each time
  for (const p of proxies) p.clear();
  for (let i = 0; i < 4; i++) await chat(client, { user: 'same-person' });
  const counts = proxies.slice(0, 2).map((p) => p.recorded.filter((x) => x.method === 'POST').length);
  assert.ok(counts.includes(4) && counts.includes(0), `affinity: ${counts}`);
});

test("an upstream's 500 before the first token is retried on another, invisibly", async () => {
  const before = series(await metrics(lair.url), 'libreair_upstream_retries_total');
  proxies[0].fault({ status: 500, count: 2 });
  proxies[1].fault({ status: 500, count: 1 });
  for (let i = 0; i < 3; i++) await chat(client, { user: `retry-${i}` });
  assert.ok(series(await metrics(lair.url), 'libreair_upstream_retries_total') > before);
  proxies[0].fault(null);
  proxies[1].fault(null);
});

test("an upstream's 429 is honoured with its Retry-After", async () => {
  for (const p of proxies) p.clear();
  proxies[0].fault({ status: 429, retryAfter: 3, count: 1 });
  proxies[1].fault({ status: 429, retryAfter: 3, count: 1 });
  // both answer 429 once: the request goes to the fallback (the embedded
  // model), and neither upstream is asked again before its Retry-After
  const t0 = Date.now();
  assert.ok((await chat(client, { user: 'throttled' })).choices[0].message.content.length > 0);
  assert.ok((await chat(client, { user: 'throttled-2' })).choices[0].message.content.length > 0);
  const posts = () => proxies.slice(0, 2).reduce((n, p) => n + p.recorded.filter((x) => x.method === 'POST').length, 0);
  if (Date.now() - t0 < 2500) assert.equal(posts(), 2, 'an upstream was asked during its Retry-After');
  await sleep(Math.max(0, 3200 - (Date.now() - t0)));
  assert.ok((await chat(client, { user: 'throttled-3' })).choices[0].message.content.length > 0);
  assert.equal(posts(), 3, 'asked again once its Retry-After has passed');
});

test('a stream cut mid-answer is continued on another upstream', async () => {
  const before = series(await metrics(lair.url), 'libreair_upstream_continuations_total');
  // well after the first words: several events may come in one TCP read,
  // and a cut before any text is a retry, not a continuation
  proxies[0].fault({ cutAfter: 3000, count: 1 });
  proxies[1].fault({ cutAfter: 3000, count: 1 });
  const s = await chat(client, { stream: true, max_tokens: 120, ignore_eos: true, user: 'cut' });
  let text = '', finish = null;
  for await (const ch of s) {
    text += ch.choices[0]?.delta?.content ?? '';
    finish = ch.choices[0]?.finish_reason ?? finish;
  }
  assert.ok(finish === 'length' || finish === 'stop', `finish ${finish}`);
  assert.ok(text.length > 0);
  assert.ok(series(await metrics(lair.url), 'libreair_upstream_continuations_total') > before);
  const cont = [...proxies[0].recorded, ...proxies[1].recorded].map((x) => x.body).find((b) => b.includes('continue_final_message'));
  assert.ok(cont, 'the continuation carries the text so far as the assistant turn');
});

test('a stream cut with no upstream left ends with an explicit error event', async () => {
  proxies[2].fault({ cutAfter: 700, count: 10 });
  const r = await fetch(`${lair.url}/v1/chat/completions`, {
    method: 'POST', headers: { Authorization: `Bearer ${lair.key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'solo', stream: true, max_tokens: 80, ignore_eos: true, messages: [{ role: 'user', content: 'Tom' }] }),
  });
  const text = await r.text();
  proxies[2].fault(null);
  assert.match(text, /"error":/);
  assert.match(text, /data: \[DONE\]/);
});

test('a client that leaves cancels the upstream request at once', async () => {
  for (const p of proxies) p.clear();
  const ac = new AbortController();
  const s = await client.chat.completions.create({ model: 'pool', stream: true, max_tokens: 2000,
    ignore_eos: true, temperature: 0, user: 'leaver', messages: [{ role: 'user', content: 'Once' }] },
  { signal: ac.signal });
  const it = s[Symbol.asyncIterator]();
  await it.next();
  ac.abort();
  // at once on a quiet machine (well under a second); up to 10 s under a loaded sanitizer build
  for (let i = 0; i < 200 && proxies[0].aborted + proxies[1].aborted === 0; i++) await sleep(50);
  assert.equal(proxies[0].aborted + proxies[1].aborted, 1);
});

test('kill -9 of an upstream: it is ejected, requests go on, and it comes back', async () => {
  const victim = peers[0];
  victim.proc.kill('SIGKILL');
  await new Promise((r) => victim.proc.on('exit', r));
  for (let i = 0; i < 6; i++) await chat(client, { user: `after-kill-${i}` });
  const m = await metrics(lair.url);
  assert.ok(series(m, 'libreair_upstream_ejections_total', proxies[0].url.replace('http://', '')) >= 1);
  peers[0] = await llamaServer(victim.port);
  let up = 0;
  for (let i = 0; i < 60 && !up; i++) {
    await sleep(250);
    up = series(await metrics(lair.url), 'libreair_upstream_up', proxies[0].url.replace('http://', ''));
  }
  assert.equal(up, 1, 'back in rotation after a health check');
});

test('when every upstream fails, the fallback model answers', async () => {
  proxies[0].fault({ refuse: true });
  proxies[1].fault({ refuse: true });
  const r = await chat(client, { user: 'fallback' });
  assert.ok(r.choices[0].message.content.length > 0);
  assert.ok(series(await metrics(lair.url), 'libreair_model_fallbacks_total') >= 1);
  proxies[0].fault(null);
  proxies[1].fault(null);
});

test('personal data never reaches a remote upstream, and comes back in the answer', async () => {
  const secret = "Appelez-moi au 06 12 34 56 78, IBAN FR76 3000 6000 0112 3456 7890 189, courriel marie.dupont@example.fr";
  const s = await client.chat.completions.create({ model: 'far', stream: true, max_tokens: 200,
    messages: [{ role: 'user', content: secret }] });
  let text = '';
  for await (const ch of s) text += ch.choices[0]?.delta?.content ?? '';
  const sent = echo.recorded.filter((x) => x.method === 'POST').map((x) => x.body).join('\n');
  for (const v of ['06 12 34 56 78', '0612345678', 'FR76', '3000 6000', 'marie.dupont'])
    assert.ok(!sent.includes(v), `'${v}' reached the remote upstream: ${sent.slice(0, 400)}`);
  assert.equal(text, `Noted: ${secret}`, 'the answer shows the values again, whole');
});

test('a tenant or an assistant forbids the remote zone: the request never leaves', async () => {
  const api = async (key, method, path, body) => {
    const r = await fetch(`${lair.url}${path}`, { method,
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, body: await r.json().catch(() => null) };
  };
  const t = await api(lair.key, 'POST', '/api/v1/tenants', { admin_key: true, slug: 'mairie-far', name: 'Far' });
  assert.equal(t.status, 201);
  const admin = t.body.admin_key;
  for (const [slug, remote] of [['libre', 'masked'], ['local-only', 'forbidden']]) {
    assert.equal((await api(admin, 'POST', '/api/v1/assistants',
      { slug, model: 'far', guardrails: { remote } })).status, 201);
    assert.equal((await api(admin, 'POST', `/api/v1/assistants/${slug}/publish`, {})).status, 200);
  }
  const ask = (model) => api(admin, 'POST', '/v1/chat/completions',
    { model, messages: [{ role: 'user', content: 'Mon numéro : 06 12 34 56 78' }] });
  const sent = () => echo.recorded.filter((x) => x.method === 'POST').length;
  let before = sent();
  assert.equal((await ask('libre')).status, 200);
  assert.equal(sent(), before + 1, 'masked by default: it goes');
  before = sent();
  assert.notEqual((await ask('local-only')).status, 200);
  assert.equal(sent(), before, 'the assistant forbids it: nothing sent');
  const s = await api(admin, 'PATCH', '/api/v1/settings', { remote_inference: 'forbidden' });
  assert.equal(s.status, 200);
  assert.equal(s.body.remote_inference, 'forbidden');
  assert.notEqual((await ask('libre')).status, 200);
  assert.equal(sent(), before, 'the tenant forbids it: nothing sent');
  assert.equal((await api(admin, 'PATCH', '/api/v1/settings', { remote_inference: 'maybe' })).status, 422);
  const audit = await api(admin, 'GET', '/api/v1/audit');
  assert.ok(JSON.stringify(audit.body).includes('settings.update'));
});
