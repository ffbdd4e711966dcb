// OpenID Connect Back-Channel Logout 1.0, end to end: when a person signs
// out at the provider, the provider POSTs a logout token to
// /auth/backchannel-logout/<provider id> and their sessions here end at
// once, instead of living until the idle timeout (docs/oidc.md).
//
// The real provider (oidc-provider, configured like ProConnect, with our
// backchannel_logout_uri registered) is driven like a browser: its cookies
// kept in a jar, its login form filled in, its logout form confirmed, so
// that its own session ends and it sends its own logout token. The hostile
// provider (tests/e2e/lib/hostile_idp.mjs) mints the forged ones: each must
// be refused (400), audited, and leave the sessions alive; a good token
// replayed must be refused too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, STORIES } from './lib/server.mjs';
import { startIdp } from './lib/oidc_idp.mjs';
import { startHostileIdp } from './lib/hostile_idp.mjs';

const SIRET_VILLE = '21750001600019'; // agent-1, agent-2 (oidc_idp.mjs); the hostile one's agent-1
const CLIENT = { clientId: 'libreair-test', clientSecret: 'secret-de-test-0123456789' };

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

let srv, pc, hostile, op, adminVille, dir, base;

async function api(key, method, path, body) {
  const r = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function asCookie(cookie, method, path, { csrf } = {}) {
  const h = { Cookie: cookie };
  if (csrf) h['X-CSRF-Token'] = csrf;
  const r = await fetch(base + path, { method, headers: h, redirect: 'manual' });
  const text = await r.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = text; }
  return { status: r.status, body: parsed };
}

const cookiesOf = (res) => (res.headers.getSetCookie?.() || []).map((c) => c.split(';')[0]);

// Is the session alive? 200, or 401 session_expired.
async function alive(cookie) {
  const r = await asCookie(cookie, 'GET', '/v1/models');
  if (r.status === 401) assert.equal(r.body.error.code, 'session_expired');
  else assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.status === 200;
}

// ---- a browser at the provider: its cookies in a jar ----

function keep(jar, res) {
  for (const sc of res.headers.getSetCookie()) {
    const [nv, ...attrs] = sc.split(';');
    const i = nv.indexOf('=');
    const name = nv.slice(0, i).trim();
    const value = nv.slice(i + 1).trim();
    if (value === '' || attrs.some((a) => /^\s*expires=.*1970/i.test(a))) jar.delete(name);
    else jar.set(name, value);
  }
}

// Follows the provider's redirects with the jar's cookies, fills its login
// form with `login`, confirms its logout form (its script does it in a real
// browser), until it sends the browser elsewhere ({leaving: url}) or shows a
// page ({status, page}).
async function atProvider(jar, url, { login } = {}) {
  let next = new URL(url);
  let method = 'GET';
  let body;
  const origin = next.origin;
  for (let hop = 0; hop < 16; hop++) {
    const headers = { Cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
    if (body) headers['Content-Type'] = 'application/x-www-form-urlencoded';
    const r = await fetch(next, { method, headers, body, redirect: 'manual' });
    keep(jar, r);
    const loc = r.headers.get('location');
    if (r.status >= 300 && r.status < 400 && loc) {
      const to = new URL(loc, next);
      if (to.origin !== origin) return { leaving: to.href };
      next = to; method = 'GET'; body = undefined;
      continue;
    }
    const page = await r.text();
    const form = page.match(/action="(\/interaction\/[^"]+\/login)"/);
    const xsrf = page.match(/name="xsrf" value="([^"]+)"/);
    if (r.status === 200 && form && login) {
      next = new URL(form[1], origin); method = 'POST';
      body = new URLSearchParams({ login }).toString();
      login = null; // once: a second form means a refusal
      continue;
    }
    if (r.status === 200 && xsrf) {
      next = new URL('/session/end/confirm', origin); method = 'POST';
      body = new URLSearchParams({ xsrf: xsrf[1], logout: 'yes' }).toString();
      continue;
    }
    return { status: r.status, page };
  }
  throw new Error('too many redirects at the provider');
}

// Signs in to us through the provider in the browser whose provider cookies
// are jar (a second sign-in in the same browser reuses the provider's
// session: no form). Returns our session cookie.
async function signInWith(jar, login) {
  const start = await fetch(`${base}/auth/login?provider=proconnect&next=/console`, { redirect: 'manual' });
  assert.equal(start.status, 302);
  const binding = cookiesOf(start).find((c) => c.startsWith('__Host-lair_login='));
  const out = await atProvider(jar, start.headers.get('location'), { login });
  assert.ok(out.leaving?.startsWith(`${base}/auth/callback?`), `the provider sent us back: ${JSON.stringify(out).slice(0, 300)}`);
  const cb = await fetch(out.leaving, { headers: { Cookie: binding }, redirect: 'manual' });
  assert.equal(cb.status, 302, await cb.text());
  const session = cookiesOf(cb).find((c) => c.startsWith('__Host-lair_session=') && !c.endsWith('=x'));
  assert.ok(session, 'session cookie set');
  return session;
}

// The hostile provider's flow (it signs agent-1 in without asking).
async function hostileSignIn() {
  const start = await fetch(`${base}/auth/login?provider=hostile&next=/console`, { redirect: 'manual' });
  const binding = cookiesOf(start).find((c) => c.startsWith('__Host-lair_login='));
  const back = await fetch(start.headers.get('location'), { redirect: 'manual' });
  const cb = await fetch(back.headers.get('location'), { headers: { Cookie: binding }, redirect: 'manual' });
  assert.equal(cb.status, 302, await cb.text());
  const session = cookiesOf(cb).find((c) => c.startsWith('__Host-lair_session=') && !c.endsWith('=x'));
  assert.ok(session);
  return { cookie: session, sid: hostile.lastSid };
}

async function postLogout(provider, body, type = 'application/x-www-form-urlencoded') {
  const r = await fetch(`${base}/auth/backchannel-logout/${provider}`, {
    method: 'POST', headers: { 'Content-Type': type }, body,
  });
  const text = await r.text();
  let parsed = null;
  try { parsed = JSON.parse(text); } catch { parsed = text; }
  return { status: r.status, body: parsed, cacheControl: r.headers.get('cache-control') };
}
const logoutForm = (token) => new URLSearchParams({ logout_token: token }).toString();

async function audit(key) {
  return (await api(key, 'GET', '/api/v1/audit?limit=200')).body.data
    .filter((e) => e.action === 'auth.backchannel_logout');
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lair-oidc-bcl-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  pc = await startIdp({ profile: 'proconnect', port: 0, ...CLIENT, alg: 'ES256',
    redirectUris: [`${base}/auth/callback`], postLogoutRedirectUris: [`${base}/auth/signed-out`],
    backchannelLogoutUri: `${base}/auth/backchannel-logout/proconnect` });
  hostile = await startHostileIdp({ port: 0, ...CLIENT });
  const conf = join(dir, 'config.json');
  writeFileSync(conf, JSON.stringify({
    oidc: {
      public_url: base,
      providers: [
        { id: 'proconnect', name: 'ProConnect', issuer: pc.issuer, client_id: CLIENT.clientId,
          client_secret: CLIENT.clientSecret, scopes: 'openid email given_name usual_name siret uid',
          acr_values: 'eidas1', required_acr: 'eidas1' },
        { id: 'hostile', name: 'Hostile', issuer: hostile.issuer, client_id: CLIENT.clientId,
          client_secret: CLIENT.clientSecret, acr_values: 'eidas1' },
      ],
    },
  }));
  srv = await startServer(['--model', `stories=${STORIES}`, '--slots', '1', '--threads', '1',
    '--listen', `127.0.0.1:${port}`, '--config', conf]);
  assert.equal(srv.url, base);
  op = srv.key;
  const r = await api(op, 'POST', '/api/v1/tenants', { admin_key: true, slug: 'ville', name: 'Ville' });
  assert.equal(r.status, 201);
  adminVille = r.body.admin_key;
  const a = await api(adminVille, 'PUT', '/api/v1/access', { rules: [{ kind: 'siret', value: SIRET_VILLE, role: 'editor' }] });
  assert.equal(a.status, 200, JSON.stringify(a.body));
});

after(async () => {
  await srv?.stop();
  await pc?.stop();
  await hostile?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('signing out at the provider ends every session of the person here at once', async () => {
  const browser = new Map();
  const other = new Map();
  const s1 = await signInWith(browser, 'agent-2');
  const s2 = await signInWith(browser, 'agent-2'); // same provider session (no form)
  const s3 = await signInWith(other, 'agent-2'); // another device
  const marie = await signInWith(new Map(), 'agent-1');
  for (const s of [s1, s2, s3, marie]) assert.equal(await alive(s), true);
  const member = (await asCookie(s1, 'GET', '/auth/me')).body.member;
  assert.ok(member);
  const sent = pc.backchannel.length;
  // the person signs out on the provider's own page (not through us)
  const out = await atProvider(browser, `${pc.issuer}/session/end`);
  assert.equal(out.status, 200, JSON.stringify(out).slice(0, 300));
  // oidc-provider answers once our endpoint has answered its logout token
  const delivered = pc.backchannel.slice(sent);
  assert.deepEqual(delivered.map((d) => [d.sub, d.ok, d.error]), [['agent-2', true, undefined]]);
  assert.ok(delivered[0].sid, 'the provider named its session too');
  assert.equal(await alive(s1), false);
  assert.equal(await alive(s2), false);
  assert.equal(await alive(s3), false, 'every session of the person, on every device');
  assert.equal(await alive(marie), true, 'another person stays signed in');
  // audited: the operator's log and the tenant's, under the member
  const ops = await audit(op);
  assert.ok(ops.some((e) => e.outcome === 'ok' && e.actor === 'provider:proconnect'
    && /provider:proconnect by:sub sessions:3/.test(e.detail)), JSON.stringify(ops));
  const ville = await audit(adminVille);
  assert.ok(ville.some((e) => e.outcome === 'ok' && e.actor === member), JSON.stringify(ville));
  // the provider's session is over too: signing in again shows its form
  const again = await fetch(`${base}/auth/login?provider=proconnect`, { redirect: 'manual' });
  const there = await atProvider(browser, again.headers.get('location'));
  assert.equal(there.status, 200);
  assert.match(there.page, /action="\/interaction\/[^"]+\/login"/);
});

test('our sign-out hands over to the provider, whose logout token ends the other sessions', async () => {
  const browser = new Map();
  const phone = new Map();
  const a = await signInWith(browser, 'agent-2');
  const b = await signInWith(phone, 'agent-2');
  const me = (await asCookie(a, 'GET', '/auth/me')).body;
  const r = await asCookie(a, 'POST', '/auth/logout', { csrf: me.csrf_token });
  assert.equal(r.status, 200);
  assert.equal(await alive(b), true, 'our own sign-out ends only this session');
  const sent = pc.backchannel.length;
  const out = await atProvider(browser, r.body.logout_url);
  assert.equal(out.leaving, `${base}/auth/signed-out?state=${new URL(r.body.logout_url).searchParams.get('state')}`);
  assert.deepEqual(pc.backchannel.slice(sent).map((d) => [d.sub, d.ok]), [['agent-2', true]]);
  assert.equal(await alive(b), false, 'the provider signed the person out everywhere');
});

test('forged logout tokens are refused, audited, and end nothing; a replayed one too', async () => {
  const h1 = await hostileSignIn();
  const h2 = await hostileSignIn();
  assert.notEqual(h1.sid, h2.sid);
  const marie = await signInWith(new Map(), 'agent-1'); // the same sub at another provider
  const forged = ['nonce', 'no_events', 'events_not_object', 'wrong_aud', 'wrong_iss', 'old_iat',
    'no_jti', 'no_sub_no_sid', 'alg_none', 'hs256_client_secret', 'bad_signature', 'id_token'];
  for (const kind of forged) {
    const r = await postLogout('hostile', logoutForm(hostile.logoutToken(kind, { sid: h1.sid })));
    assert.equal(r.status, 400, `${kind}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error, 'invalid_request', kind);
    assert.ok(r.body.error_description, kind);
    assert.equal(r.cacheControl, 'no-store', kind);
  }
  // a good token at the wrong door: another provider's endpoint, an unknown one
  let r = await postLogout('proconnect', logoutForm(hostile.logoutToken('good')));
  assert.equal(r.status, 400);
  r = await postLogout('nobody', logoutForm(hostile.logoutToken('good')));
  assert.equal(r.status, 400);
  // malformed requests
  const token = hostile.logoutToken('good');
  for (const body of ['', 'token=x', `logout_token=${token}&logout_token=${token}`, 'logout_token=%zz']) {
    r = await postLogout('hostile', body);
    assert.equal(r.status, 400, body.slice(0, 40));
  }
  r = await fetch(`${base}/auth/backchannel-logout/hostile`, { method: 'POST', body: `logout_token=${'a'.repeat(40000)}` });
  assert.equal(r.status, 413, 'the body is small');
  for (const s of [h1.cookie, h2.cookie, marie]) assert.equal(await alive(s), true, 'nothing ended');
  const denied = (await audit(op)).filter((e) => e.outcome === 'denied');
  assert.ok(denied.some((e) => /provider:hostile reason:a_logout_token_has_no_nonce/.test(e.detail)), JSON.stringify(denied));
  assert.ok(denied.some((e) => /reason:logout_token_without_the_back-channel_logout_event/.test(e.detail)));
  assert.ok(denied.some((e) => /reason:token_for_another_client/.test(e.detail)));

  // a good token naming only h1's provider session: h1 ends, h2 does not
  const bySid = hostile.logoutToken('sid_only', { sid: h1.sid });
  r = await postLogout('hostile', logoutForm(bySid));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.cacheControl, 'no-store');
  assert.equal(await alive(h1.cookie), false);
  assert.equal(await alive(h2.cookie), true);
  // replayed: refused, whether the same token or a new one with its jti
  const h3 = await hostileSignIn();
  r = await postLogout('hostile', logoutForm(bySid));
  assert.equal(r.status, 400);
  assert.match(r.body.error_description, /jti/);
  const jti = JSON.parse(Buffer.from(bySid.split('.')[1], 'base64url')).jti;
  r = await postLogout('hostile', logoutForm(hostile.logoutToken('good', { jti })));
  assert.equal(r.status, 400);
  assert.equal(await alive(h2.cookie), true);
  assert.equal(await alive(h3.cookie), true);
  // by sub: every session of the person at this provider, not at another one
  r = await postLogout('hostile', logoutForm(hostile.logoutToken('good')));
  assert.equal(r.status, 200);
  assert.equal(r.body.sessions, 2);
  assert.equal(await alive(h2.cookie), false);
  assert.equal(await alive(h3.cookie), false);
  assert.equal(await alive(marie), true, 'agent-1 of the real provider is another person');
  assert.ok((await audit(op)).some((e) => e.outcome === 'denied' && /reason:logout_token_already_used/.test(e.detail)));
});
