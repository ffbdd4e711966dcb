// What a client can hold of the server, tried with raw sockets against the
// real binary: a request without a key is refused on its headers (its body is
// never read); request bodies held in memory have one budget; one address
// cannot take every connection; late headers and idle kept-alive connections
// (after a stream too) are closed; under pressure the oldest connections still
// waiting for headers are shed, so that a new client gets through; /metrics
// can require a token and names each series once; a queued stream is told its
// place; SIGTERM lets streams finish, ends the ones past the grace period with
// an error event and [DONE], and stores what was said.
// Loopback only: 127.0.0.0/8 gives the test many client addresses.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, STORIES } from './lib/server.mjs';

const TOKEN = 'metrics-token-0123456789abcdef';
let dir, data, srv;

// Starts serve on data with args; resolves {url, proc, out()} once ready.
function serve(args) {
  const proc = spawn(BIN, ['serve', '--data', data, '--listen', '127.0.0.1:0', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  proc.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready: ${err}`)), 60000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\S+)/);
      if (m && /^libreair: ready/m.test(out)) {
        clearTimeout(timer);
        resolve({ url: m[1], port: Number(new URL(m[1]).port), proc, out: () => out, err: () => err });
      }
    });
    proc.on('exit', (c) => { clearTimeout(timer); reject(new Error(`exited ${c}: ${err}`)); });
  });
}

const exited = (p) => (p.exitCode !== null ? Promise.resolve(p.exitCode) : new Promise((r) => p.on('exit', r)));

async function stop(s) {
  if (s && s.proc.exitCode === null) {
    s.proc.kill('SIGTERM');
    await exited(s.proc);
  }
}

// A raw connection from a loopback address; collects what it receives.
function connect(port, localAddress = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress });
    const c = { sock, data: '', closed: false };
    c.closedAt = new Promise((r) => sock.on('close', () => { c.closed = true; r(Date.now()); }));
    sock.setEncoding('utf8');
    sock.on('data', (d) => { c.data += d; });
    sock.on('error', () => {});
    sock.once('connect', () => resolve(c));
    sock.once('error', reject);
  });
}

// Resolves once c has received something matching re (or rejects after ms).
function waitFor(c, re, ms = 10000) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      if (re.test(c.data)) return resolve(Date.now() - t0);
      if (c.closed || Date.now() - t0 > ms) return reject(new Error(`no ${re} in: ${c.data.slice(0, 300)}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

async function api(url, key, method, path, body) {
  const r = await fetch(url + path, {
    method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

async function metrics(url) {
  const r = await fetch(`${url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200);
  return r.text();
}

function value(text, name) {
  for (const l of text.split('\n')) if (l.startsWith(name + ' ')) return Number(l.split(' ').pop());
  return NaN;
}

let opKey, adminKey;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lair-conn-'));
  data = join(dir, 'data');
  opKey = execFileSync(BIN, ['init', '--data', data], { encoding: 'utf8' }).trim().split('\n').pop();
  writeFileSync(join(dir, 'token'), TOKEN + '\n');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ limits: { max_connections: 64 } }));
  srv = await serve(['--config', join(dir, 'config.json'), '--model', `stories=${STORIES}`,
    '--slots', '1', '--ctx', '512', '--threads', '1', '--header-timeout', '2',
    '--max-client-connections', '20', '--max-body-memory', '1', '--metrics-token-file', join(dir, 'token')]);
  const t = await api(srv.url, opKey, 'POST', '/api/v1/tenants', { admin_key: true, slug: 'ville', name: 'Ville' });
  assert.equal(t.status, 201);
  adminKey = t.body.admin_key;
  const a = await api(srv.url, adminKey, 'POST', '/api/v1/assistants',
    { slug: 'conteur', model: 'stories', instructions: 'Once upon a time' });
  assert.equal(a.status, 201);
  assert.equal((await api(srv.url, adminKey, 'POST', '/api/v1/assistants/conteur/publish', {})).status, 200);
});

after(async () => {
  await stop(srv);
  rmSync(dir, { recursive: true, force: true });
});

test('a request without a key is refused on its headers, before its body', async () => {
  const c = await connect(srv.port);
  c.sock.write('POST /api/v1/knowledge-bases/x/documents HTTP/1.1\r\nHost: x\r\n' +
    'Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 60000000\r\n\r\n');
  const ms = await waitFor(c, /^HTTP\/1\.1 401/, 5000); // not a byte of the 60 MB was sent
  assert.ok(ms < 3000, `answered after ${ms} ms`);
  await c.closedAt;
  const m = await metrics(srv.url);
  assert.equal(value(m, 'libreair_http_body_bytes'), 0);
});

test('request bodies held in memory have one budget', async () => {
  const up = 'POST /api/v1/knowledge-bases/x/documents HTTP/1.1\r\nHost: x\r\n' +
    `Authorization: Bearer ${adminKey}\r\nContent-Type: multipart/form-data; boundary=b\r\n` +
    'Content-Length: 700000\r\n\r\n';
  const a = await connect(srv.port);
  a.sock.write(up + 'x'.repeat(1000)); // holds 700 kB of the 1 MiB budget
  let m;
  for (let i = 0; i < 200 && !(value(m = await metrics(srv.url), 'libreair_http_body_bytes') > 0); i++)
    await new Promise((r) => setTimeout(r, 10));
  assert.equal(value(m, 'libreair_http_body_bytes'), 700000);
  const b = await connect(srv.port);
  b.sock.write(up);
  await waitFor(b, /^HTTP\/1\.1 503[\s\S]*Retry-After: \d+[\s\S]*server_busy/);
  a.sock.destroy();
  for (let i = 0; i < 200 && value(m = await metrics(srv.url), 'libreair_http_body_bytes') !== 0; i++)
    await new Promise((r) => setTimeout(r, 10));
  assert.equal(value(m, 'libreair_http_body_bytes'), 0);
  assert.ok(value(m, 'libreair_http_body_refusals_total') >= 1);
  b.sock.destroy();
});

test('one client address cannot hold every connection; another still gets through', async () => {
  const socks = [];
  for (let i = 0; i < 30; i++) socks.push(await connect(srv.port, '127.0.0.1'));
  // beyond 20, the server closes them at once
  await new Promise((r) => setTimeout(r, 300));
  const closed = socks.filter((c) => c.closed).length;
  assert.ok(closed >= 10, `${closed} of 30 closed`);
  const other = await connect(srv.port, '127.0.0.2');
  other.sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(other, /^HTTP\/1\.1 200/, 3000);
  for (const c of [...socks, other]) c.sock.destroy();
});

test('late headers are cut after the header timeout', async () => {
  const c = await connect(srv.port, '127.0.0.3');
  c.sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'); // never finished
  const t0 = Date.now();
  const t = await c.closedAt;
  assert.ok(t - t0 < 5000, `closed after ${t - t0} ms`);
  assert.equal(c.data, '');
});

test('a connection kept alive after a stream is closed once idle', async () => {
  const c = await connect(srv.port, '127.0.0.4');
  const body = JSON.stringify({ model: 'conteur', stream: true, max_tokens: 8,
    messages: [{ role: 'user', content: 'Lily' }] });
  c.sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${adminKey}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  await waitFor(c, /data: \[DONE\]\n\n\r\n0\r\n\r\n/, 30000);
  const t0 = Date.now();
  const t = await c.closedAt; // before the fix: never (the stream had set no timeout)
  assert.ok(t - t0 < 5000, `closed after ${t - t0} ms`);
});

test('under pressure, connections waiting for headers are shed and a new client gets through', async () => {
  const socks = [];
  // 64 silent connections from 64 addresses: the limit is 64, the reserve 8
  for (let i = 0; i < 64; i++) socks.push(await connect(srv.port, `127.0.1.${i + 1}`));
  const t0 = Date.now();
  let ok = false;
  while (!ok && Date.now() - t0 < 5000) {
    const c = await connect(srv.port, '127.0.2.1');
    c.sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    ok = await waitFor(c, /^HTTP\/1\.1 200/, 1500).then(() => true, () => false);
    c.sock.destroy();
  }
  assert.ok(ok, '/healthz did not get through');
  const shed = socks.filter((c) => c.closed).length;
  for (const c of socks) c.sock.destroy();
  assert.ok(shed >= 1, 'no waiting connection was shed');
  const m = await metrics(srv.url);
  assert.ok(Number(m.match(/connections_closed_total\{reason="shed"\} (\d+)/)[1]) >= 1);
});

test('/metrics requires its token and names each series once', async () => {
  assert.equal((await fetch(`${srv.url}/metrics`)).status, 401);
  const bad = await fetch(`${srv.url}/metrics`, { headers: { Authorization: 'Bearer nope' } });
  assert.equal(bad.status, 401);
  const text = await metrics(srv.url);
  const seen = new Set();
  for (const l of text.split('\n')) {
    if (!l || l.startsWith('#')) continue;
    const series = l.slice(0, l.lastIndexOf(' '));
    assert.ok(!seen.has(series), `series twice: ${series}`);
    seen.add(series);
  }
  assert.ok(seen.size > 20);
});

test('a queued stream is told its place in the queue', async () => {
  const long = await connect(srv.port, '127.0.0.5');
  const q = await connect(srv.port, '127.0.0.6');
  const req = (n) => {
    const body = JSON.stringify({ model: 'conteur', stream: true, max_tokens: n, ignore_eos: true,
      messages: [{ role: 'user', content: 'Tom' }] });
    return `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${adminKey}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  };
  long.sock.write(req(400));
  await waitFor(long, /"content"/);
  q.sock.write(req(4));
  await waitFor(q, /: queued, position 1\n\n/, 3000); // said at once, not after the wait
  long.sock.destroy();
  await waitFor(q, /data: \[DONE\]/, 30000);
  q.sock.destroy();
});

test('SIGTERM lets streams finish, ends the late ones with an error event, and keeps what was said', async () => {
  await stop(srv);
  // a context long enough for a stream to outlast the grace period
  srv = await serve(['--model', `stories=${STORIES}`, '--slots', '2', '--ctx', '16384', '--threads', '1',
    '--drain-timeout', '2']);
  const stream = async (maxTokens, localAddress) => {
    const c = await connect(srv.port, localAddress);
    const body = JSON.stringify({ model: 'conteur', stream: true, max_tokens: maxTokens, ignore_eos: true,
      user: 'habitant-1', messages: [{ role: 'user', content: 'Lily' }] });
    c.sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${adminKey}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await waitFor(c, /"content"/);
    return c;
  };
  const late = await stream(100000, '127.0.0.7'); // runs past the 2 s grace period
  const conv = late.data.match(/"conversation_id":"(conv_\w+)"/)[1];
  srv.proc.kill('SIGTERM');
  // a new connection is no longer accepted (or is told the server is going)
  await new Promise((r) => setTimeout(r, 200));
  const refused = await fetch(`${srv.url}/healthz`).then((r) => r.status, () => 'refused');
  assert.ok(refused === 'refused' || refused === 503, `after SIGTERM: ${refused}`);
  await late.closedAt;
  assert.match(late.data, /"code":"shutting_down"[\s\S]*data: \[DONE\]\n\n\r\n0\r\n\r\n$/);
  assert.equal(await exited(srv.proc), 0);
  // what was said is stored
  srv = await serve(['--model', `stories=${STORIES}`, '--slots', '1', '--ctx', '512', '--threads', '1']);
  const got = await api(srv.url, adminKey, 'GET', `/api/v1/conversations/${conv}`);
  assert.equal(got.status, 200);
  const said = late.data.split('\n').filter((l) => l.startsWith('data: {"id"'))
    .map((l) => JSON.parse(l.slice(6)).choices[0]?.delta?.content || '').join('');
  const answer = got.body.messages.find((m) => m.role === 'assistant');
  assert.ok(said.length > 0 && answer.content === said, 'the stored answer is what the client received');
});

test('SIGTERM: a stream that ends within the grace period ends normally', async () => {
  const c = await connect(srv.port, '127.0.0.8');
  const body = JSON.stringify({ model: 'conteur', stream: true, max_tokens: 60, ignore_eos: true,
    messages: [{ role: 'user', content: 'Tom' }] });
  c.sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${adminKey}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  await waitFor(c, /"content"/);
  srv.proc.kill('SIGTERM');
  await c.closedAt;
  assert.match(c.data, /"finish_reason":"length"[\s\S]*data: \[DONE\]\n\n\r\n0\r\n\r\n$/);
  assert.equal(await exited(srv.proc), 0);
});
