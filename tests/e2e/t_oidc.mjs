// Signing in with OpenID Connect, end to end: the real server, a real
// certified provider (oidc-provider, configured like ProConnect: signed
// userinfo, siret claim, acr eidas1; and like a Keycloak: groups claim), and
// a hostile provider for the forged answers a certified one cannot give
// (tests/e2e/lib/hostile_idp.mjs, docs/oidc-test-provider.md). The flow is
// driven like a browser without a browser (redirects read one by one, the
// cookies carried by hand); t_browser_oidc.mjs does it in Chromium.
//
// Every attack must be refused, audited, and leave no session: tokens from
// another provider or for another client, alg none, HMAC, unknown keys, an
// expired token, a wrong nonce or state, a replayed code, a forged cookie, a
// cross-site request without the CSRF token, a removed member's old
// session, a SIRET of no tenant.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, STORIES } from './lib/server.mjs';
import { startIdp } from './lib/oidc_idp.mjs';
import { startHostileIdp } from './lib/hostile_idp.mjs';

const SIRET_VILLE = '21750001600019'; // agent-1, agent-2, agent-multi (oidc_idp.mjs)
const CLIENT = { clientId: 'libreair-test', clientSecret: 'secret-de-test-0123456789' };

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

let srv, pc, kc, hostile, op, adminVille, adminSeconde, dir, base;

const json = (r) => r.json();
async function api(key, method, path, body) {
  const r = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

// A request made with the session cookie (and the CSRF token, when given).
async function asCookie(cookie, method, path, { body, csrf, headers = {} } = {}) {
  const h = { Cookie: cookie, ...headers };
  if (csrf) h['X-CSRF-Token'] = csrf;
  if (body) h['Content-Type'] = 'application/json';
  const r = await fetch(base + path, { method, headers: h, body: body ? JSON.stringify(body) : undefined, redirect: 'manual' });
  const text = await r.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = text; }
  return { status: r.status, body: parsed, headers: r.headers };
}

function cookiesOf(res) {
  return (res.headers.getSetCookie?.() || []).map((c) => c.split(';')[0]);
}

// Runs the code flow for provider (its test account already chosen): returns
// {status, cookie, location, page, callback} where cookie is the session
// cookie when one was set.
async function signIn(provider, { tamper } = {}) {
  const start = await fetch(`${base}/auth/login?provider=${provider}&next=/console`, { redirect: 'manual' });
  assert.equal(start.status, 302, `login for ${provider}`);
  const login = cookiesOf(start).find((c) => c.startsWith('__Host-lair_login='));
  assert.ok(login, 'the sign-in is bound to the browser by a cookie');
  const authz = new URL(start.headers.get('location'));
  assert.equal(authz.searchParams.get('code_challenge_method'), 'S256');
  assert.ok(authz.searchParams.get('state') && authz.searchParams.get('nonce'));
  const back = await fetch(authz, { redirect: 'manual' });
  assert.ok([302, 303].includes(back.status), `provider answered ${back.status}`);
  let callback = back.headers.get('location');
  if (tamper) callback = tamper(callback);
  const cb = await fetch(callback, { headers: { Cookie: login }, redirect: 'manual' });
  const session = cookiesOf(cb).find((c) => c.startsWith('__Host-lair_session=') && !c.endsWith('=x'));
  return { status: cb.status, cookie: session || null, location: cb.headers.get('location'),
    page: cb.status === 302 ? '' : await cb.text(), callback, login };
}

async function me(cookie) {
  return asCookie(cookie, 'GET', '/auth/me');
}

async function operatorAudit() {
  return (await api(op, 'GET', '/api/v1/audit?limit=200')).body.data;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lair-oidc-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const cb = `${base}/auth/callback`;
  const out = `${base}/auth/signed-out`;
  pc = await startIdp({ profile: 'proconnect', port: 0, ...CLIENT, redirectUris: [cb], postLogoutRedirectUris: [out], alg: 'ES256' });
  kc = await startIdp({ profile: 'keycloak', port: 0, ...CLIENT, redirectUris: [cb], postLogoutRedirectUris: [out] });
  hostile = await startHostileIdp({ port: 0, ...CLIENT });
  const conf = join(dir, 'config.json');
  writeFileSync(conf, JSON.stringify({
    oidc: {
      public_url: base,
      providers: [
        { id: 'proconnect', name: 'ProConnect', issuer: pc.issuer, client_id: CLIENT.clientId,
          client_secret: CLIENT.clientSecret, scopes: 'openid email given_name usual_name siret uid',
          acr_values: 'eidas1', required_acr: 'eidas1' },
        { id: 'keycloak', name: 'Keycloak de la ville', issuer: kc.issuer, client_id: CLIENT.clientId,
          client_secret: CLIENT.clientSecret, scopes: 'openid email profile groups' },
        { id: 'hostile', name: 'Hostile', issuer: hostile.issuer, client_id: CLIENT.clientId,
          client_secret: CLIENT.clientSecret, acr_values: 'eidas1' },
      ],
    },
  }));
  srv = await startServer(['--model', `stories=${STORIES}`, '--slots', '1', '--threads', '1',
    '--listen', `127.0.0.1:${port}`, '--config', conf]);
  assert.equal(srv.url, base);
  op = srv.key;
  let r = await api(op, 'POST', '/api/v1/tenants', { admin_key: true, slug: 'ville', name: 'Ville' });
  assert.equal(r.status, 201);
  adminVille = r.body.admin_key;
  r = await api(op, 'POST', '/api/v1/tenants', { admin_key: true, slug: 'seconde', name: 'Ville seconde' });
  adminSeconde = r.body.admin_key;
  // ville: anyone of its SIRET is an editor; seconde: its mail domain are users, group rh editors
  r = await api(adminVille, 'PUT', '/api/v1/access', { rules: [{ kind: 'siret', value: SIRET_VILLE, role: 'editor', provider: 'proconnect' }] });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  r = await api(adminSeconde, 'PUT', '/api/v1/access', { rules: [
    { kind: 'domain', value: 'ville-seconde.fr', role: 'user' },
    { kind: 'group', value: 'rh', role: 'editor', provider: 'keycloak' }] });
  assert.equal(r.status, 200, JSON.stringify(r.body));
});

after(async () => {
  await srv?.stop();
  await pc?.stop();
  await kc?.stop();
  await hostile?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('providers are listed for the sign-in page', async () => {
  const r = await fetch(`${base}/auth/providers`).then(json);
  assert.deepEqual(r.providers.map((p) => p.id), ['proconnect', 'keycloak', 'hostile']);
});

test('ProConnect: an agent of the declared SIRET signs in as editor, with CSRF on every change', async () => {
  pc.setAutoLogin('agent-1');
  const s = await signIn('proconnect');
  assert.equal(s.status, 302, s.page);
  assert.equal(s.location, '/console');
  assert.ok(s.cookie, 'session cookie set');
  const raw = (await fetch(`${base}/auth/me`, { headers: { Cookie: s.cookie } }));
  const m = await raw.json();
  assert.equal(m.chosen, true);
  assert.equal(m.tenant, 'ville');
  assert.equal(m.role, 'editor');
  assert.equal(m.name, 'Marie Dupont');
  assert.equal(m.email, 'marie.dupont@mairie-exemple.fr');
  // reads work with the cookie alone
  let r = await asCookie(s.cookie, 'GET', '/api/v1/assistants');
  assert.equal(r.status, 200);
  // an admin route does not
  r = await asCookie(s.cookie, 'GET', '/api/v1/members');
  assert.equal(r.status, 403);
  // a change without the token, with a wrong one, or cross-site: refused
  const kb = { slug: 'csrf-kb', name: 'K' };
  r = await asCookie(s.cookie, 'POST', '/api/v1/knowledge-bases', { body: kb });
  assert.equal(r.status, 403);
  assert.equal(r.body.error.code, 'csrf');
  r = await asCookie(s.cookie, 'POST', '/api/v1/knowledge-bases', { body: kb, csrf: 'x'.repeat(43) });
  assert.equal(r.status, 403);
  r = await asCookie(s.cookie, 'POST', '/api/v1/knowledge-bases', { body: kb, csrf: m.csrf_token, headers: { 'Sec-Fetch-Site': 'cross-site' } });
  assert.equal(r.status, 403);
  r = await api(adminVille, 'GET', '/api/v1/knowledge-bases');
  assert.ok(!JSON.stringify(r.body).includes('csrf-kb'), 'nothing was created by the refused requests');
  // with it: done
  r = await asCookie(s.cookie, 'POST', '/api/v1/knowledge-bases', { body: kb, csrf: m.csrf_token });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  // the sign-in is in the tenant's log, under the member's id
  const audit = (await api(adminVille, 'GET', '/api/v1/audit?limit=100')).body.data;
  assert.ok(audit.some((e) => e.action === 'auth.signin' && e.actor === m.member), 'sign-in audited');
  // the session cookie's attributes
  const res = await fetch(`${base}/auth/login?provider=proconnect`, { redirect: 'manual' });
  const set = res.headers.getSetCookie().join('\n');
  assert.match(set, /__Host-lair_login=[^;]+; Path=\/; Secure; HttpOnly; SameSite=Lax/);
});

test('a SIRET that belongs to no tenant is refused with a clear page, audited', async () => {
  pc.setAutoLogin('agent-inconnu');
  const s = await signIn('proconnect');
  assert.equal(s.status, 403);
  assert.equal(s.cookie, null);
  assert.match(s.page, /Accès non autorisé/);
  const ev = (await operatorAudit()).filter((e) => e.action === 'auth.refused' && /reason:no_tenant/.test(e.detail));
  assert.ok(ev.some((e) => /siret:21971000100013/.test(e.detail) && /domain:collectivite-inconnue.fr/.test(e.detail)));
});

test('a person in two tenants chooses one; a stranger to the tenant cannot choose it', async () => {
  pc.setAutoLogin('agent-multi'); // SIRET of ville, mail domain of seconde
  const s = await signIn('proconnect');
  assert.equal(s.status, 302);
  assert.equal(s.location, '/console?choose=1');
  const m = await me(s.cookie);
  assert.equal(m.body.chosen, false);
  assert.deepEqual(m.body.tenants.map((t) => `${t.tenant}:${t.role}`).sort(), ['seconde:user', 'ville:editor']);
  // nothing but /auth/* until chosen
  let r = await asCookie(s.cookie, 'GET', '/api/v1/assistants');
  assert.equal(r.status, 403);
  assert.equal(r.body.error.code, 'tenant_not_chosen');
  r = await asCookie(s.cookie, 'POST', '/auth/choose', { body: { tenant: 'autre' }, csrf: m.body.csrf_token });
  assert.equal(r.status, 403);
  r = await asCookie(s.cookie, 'POST', '/auth/choose', { body: { tenant: 'seconde' } });
  assert.equal(r.status, 403, 'choose needs the CSRF token');
  r = await asCookie(s.cookie, 'POST', '/auth/choose', { body: { tenant: 'seconde' }, csrf: m.body.csrf_token });
  assert.equal(r.status, 200);
  const after = await me(s.cookie);
  assert.equal(after.body.tenant, 'seconde');
  assert.equal(after.body.role, 'user');
});

test('Keycloak-style groups give a role; a named person gets theirs', async () => {
  kc.setAutoLogin('agent-3'); // sophie, group rh, domain ville-seconde.fr
  let s = await signIn('keycloak');
  assert.equal(s.status, 302, s.page);
  let m = await me(s.cookie);
  assert.equal(m.body.tenant, 'seconde');
  assert.equal(m.body.role, 'editor', 'the group rule (editor) wins over the domain rule (user)');
  // the admin names jean as admin of ville; he signs in with ProConnect
  const r = await api(adminVille, 'POST', '/api/v1/members', { email: 'jean.martin@mairie-exemple.fr', role: 'admin' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  pc.setAutoLogin('agent-2');
  s = await signIn('proconnect');
  m = await me(s.cookie);
  assert.equal(m.body.tenant, 'ville');
  assert.equal(m.body.role, 'admin');
  const members = await asCookie(s.cookie, 'GET', '/api/v1/members');
  assert.equal(members.status, 200);
  assert.ok(members.body.data.some((x) => x.email === 'jean.martin@mairie-exemple.fr' && x.last_login > 0));
});

test('removing a member or lowering the role takes effect on the next request; personal keys die', async () => {
  pc.setAutoLogin('agent-1');
  const s = await signIn('proconnect');
  const m = (await me(s.cookie)).body;
  assert.equal(m.role, 'editor');
  // a personal key, made from the session
  let r = await asCookie(s.cookie, 'POST', '/api/v1/keys', { body: { role: 'admin' }, csrf: m.csrf_token });
  assert.equal(r.status, 403, 'not above the owner\'s role');
  r = await asCookie(s.cookie, 'POST', '/api/v1/keys', { body: { role: 'editor', name: 'script' }, csrf: m.csrf_token });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const personal = r.body.key;
  assert.equal((await api(personal, 'GET', '/api/v1/assistants')).status, 200);
  // the admin lowers marie to user: editor routes close at once
  r = await api(adminVille, 'PATCH', `/api/v1/members/${m.member}`, { role: 'user' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal((await asCookie(s.cookie, 'GET', '/api/v1/assistants')).status, 403);
  assert.equal((await api(personal, 'GET', '/api/v1/assistants')).status, 403, 'the personal key follows the role down');
  // removed: the old session and the personal key are dead
  r = await api(adminVille, 'DELETE', `/api/v1/members/${m.member}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  r = await asCookie(s.cookie, 'GET', '/v1/models');
  assert.equal(r.status, 401);
  assert.equal(r.body.error.code, 'session_expired');
  assert.equal((await api(personal, 'GET', '/v1/models')).status, 401);
  // and the SIRET rule does not let her back in
  const again = await signIn('proconnect');
  assert.equal(again.status, 403);
  assert.equal(again.cookie, null);
});

test('sign-out ends the session and hands over to the provider; sign-out everywhere ends them all', async () => {
  pc.setAutoLogin('agent-2');
  const a = await signIn('proconnect');
  const b = await signIn('proconnect');
  const ma = (await me(a.cookie)).body;
  let r = await asCookie(a.cookie, 'POST', '/auth/logout');
  assert.equal(r.status, 403, 'logout needs the CSRF token');
  r = await asCookie(a.cookie, 'POST', '/auth/logout', { csrf: ma.csrf_token });
  assert.equal(r.status, 200);
  const url = new URL(r.body.logout_url);
  assert.equal(url.origin, new URL(pc.issuer).origin);
  assert.ok(url.searchParams.get('id_token_hint'));
  assert.equal(url.searchParams.get('post_logout_redirect_uri'), `${base}/auth/signed-out`);
  assert.equal((await asCookie(a.cookie, 'GET', '/v1/models')).status, 401);
  assert.equal((await asCookie(b.cookie, 'GET', '/v1/models')).status, 200);
  const c = await signIn('proconnect');
  const mc = (await me(c.cookie)).body;
  r = await asCookie(c.cookie, 'POST', '/auth/logout-all', { csrf: mc.csrf_token });
  assert.equal(r.status, 200);
  assert.ok(r.body.sessions >= 2);
  assert.equal((await asCookie(b.cookie, 'GET', '/v1/models')).status, 401);
  assert.equal((await asCookie(c.cookie, 'GET', '/v1/models')).status, 401);
});

test('replayed callback, forged state, another browser, forged cookie: refused', async () => {
  pc.setAutoLogin('agent-2');
  const s = await signIn('proconnect');
  assert.equal(s.status, 302);
  // the same callback again (code and state replayed)
  let r = await fetch(s.callback, { headers: { Cookie: s.login }, redirect: 'manual' });
  assert.equal(r.status, 403);
  // a state made up
  const forged = await signIn('proconnect', { tamper: (u) => u.replace(/state=[^&]+/, 'state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA') });
  assert.equal(forged.status, 403);
  assert.equal(forged.cookie, null);
  // a callback carried to another browser (login cookie missing)
  const start = await fetch(`${base}/auth/login?provider=proconnect`, { redirect: 'manual' });
  const back = await fetch(start.headers.get('location'), { redirect: 'manual' });
  r = await fetch(back.headers.get('location'), { redirect: 'manual' });
  assert.equal(r.status, 403);
  assert.equal(cookiesOf(r).filter((c) => c.startsWith('__Host-lair_session=')).length, 0);
  // forged session cookies
  for (const c of ['__Host-lair_session=' + 'A'.repeat(43), '__Host-lair_session=../../etc', '__Host-lair_session=']) {
    r = await asCookie(c, 'GET', '/v1/models');
    assert.equal(r.status, 401, c);
  }
  const audit = await operatorAudit();
  assert.ok(audit.filter((e) => e.action === 'auth.refused' && /reason:state/.test(e.detail)).length >= 3);
});

test('key rotation at the provider: the new key is fetched', async () => {
  await pc.rotateKeys({ dropOld: true });
  await new Promise((res) => setTimeout(res, 1100)); // the JWKS is fetched again at most once a second
  pc.setAutoLogin('agent-2');
  const s = await signIn('proconnect');
  assert.equal(s.status, 302, s.page);
  assert.ok(s.cookie);
});

test('a hostile provider: every forged answer is refused and audited; its good answer works', async () => {
  const put = await api(adminVille, 'PUT', '/api/v1/access', { rules: [
    { kind: 'siret', value: SIRET_VILLE, role: 'editor', provider: 'proconnect' },
    { kind: 'siret', value: SIRET_VILLE, role: 'user', provider: 'hostile' }] });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  // the control: nothing wrong, accepted (so each refusal below is for its defect)
  hostile.setMode('good');
  let s = await signIn('hostile');
  assert.equal(s.status, 302, s.page);
  assert.ok(s.cookie);
  // again (her email belongs to her removed ProConnect membership: kept apart)
  s = await signIn('hostile');
  assert.equal(s.status, 302, s.page);
  const modes = ['alg_none', 'hs256_client_secret', 'hs256_public_key', 'unknown_kid', 'bad_signature',
    'wrong_iss', 'wrong_aud', 'azp_other_client', 'expired', 'wrong_nonce', 'missing_nonce',
    'wrong_state', 'wrong_iss_param', 'userinfo_bad_signature', 'userinfo_alg_none', 'userinfo_wrong_sub'];
  for (const mode of modes) {
    hostile.setMode(mode);
    s = await signIn('hostile');
    assert.equal(s.status, 403, `${mode}: ${s.status} ${s.page.slice(0, 200)}`);
    assert.equal(s.cookie, null, `${mode}: no session`);
  }
  const refused = (await operatorAudit()).filter((e) => e.action === 'auth.refused' && /provider:hostile|reason:state/.test(e.detail));
  assert.ok(refused.length >= modes.length, `${refused.length} refusals audited`);
  hostile.setMode('good');
});

test('a token from another provider is refused (mix-up: iss of the callback)', async () => {
  // a code issued by the Keycloak, delivered as if ProConnect had answered
  kc.setAutoLogin('agent-3');
  const start = await fetch(`${base}/auth/login?provider=proconnect`, { redirect: 'manual' });
  const login = cookiesOf(start).find((c) => c.startsWith('__Host-lair_login='));
  const state = new URL(start.headers.get('location')).searchParams.get('state');
  const kcStart = await fetch(`${base}/auth/login?provider=keycloak`, { redirect: 'manual' });
  const kcBack = await fetch(kcStart.headers.get('location'), { redirect: 'manual' });
  const kcCb = new URL(kcBack.headers.get('location'));
  const code = kcCb.searchParams.get('code');
  const r = await fetch(`${base}/auth/callback?code=${encodeURIComponent(code)}&state=${state}&iss=${encodeURIComponent(kc.issuer)}`,
    { headers: { Cookie: login }, redirect: 'manual' });
  assert.equal(r.status, 403);
  // the same without iss: the code means nothing to ProConnect
  const start2 = await fetch(`${base}/auth/login?provider=proconnect`, { redirect: 'manual' });
  const login2 = cookiesOf(start2).find((c) => c.startsWith('__Host-lair_login='));
  const state2 = new URL(start2.headers.get('location')).searchParams.get('state');
  const r2 = await fetch(`${base}/auth/callback?code=${encodeURIComponent(code)}&state=${state2}`,
    { headers: { Cookie: login2 }, redirect: 'manual' });
  assert.equal(r2.status, 403);
});

test('enrollment links: the operator gets no tenant secret; a used or expired link is refused and reported', async () => {
  let r = await api(op, 'POST', '/api/v1/tenants', { slug: 'troisieme', name: 'Troisième' });
  assert.equal(r.status, 201);
  assert.equal(r.body.admin_key, undefined, 'no admin key for the operator');
  const link = r.body.enrollment.url;
  assert.ok(link.startsWith(`${base}/enroll/`), link);
  let page = await fetch(link);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<form method="post"/);
  page = await fetch(link, { method: 'POST' });
  assert.equal(page.status, 201);
  const key = (await page.text()).match(/value="(lair_[^"]+)"/)[1];
  assert.equal((await api(key, 'GET', '/api/v1/keys')).status, 200, 'the enrolled key is the tenant\'s admin');
  page = await fetch(link, { method: 'POST' });
  assert.equal(page.status, 409, 'a used link');
  const log = (await api(key, 'GET', '/api/v1/audit?limit=50')).body.data;
  assert.ok(log.some((e) => e.action === 'enrollment.create' && e.actor.startsWith('operator:')));
  assert.ok(log.some((e) => e.action === 'enrollment.use' && e.outcome === 'ok'));
  assert.ok(log.some((e) => e.action === 'enrollment.refused' && /already_used/.test(e.detail)), 'the reuse is reported to the tenant');
  // an expired one
  r = await api(op, 'POST', '/api/v1/tenants', { slug: 'quatrieme', name: 'Q', enrollment_expires_in: '1s' });
  await new Promise((res) => setTimeout(res, 2100));
  page = await fetch(r.body.enrollment.url, { method: 'POST' });
  assert.equal(page.status, 410);
  // named admin by email: no secret at all
  r = await api(op, 'POST', '/api/v1/tenants', { slug: 'cinquieme', name: 'C', admin_email: 'Maire@Cinquieme.fr' });
  assert.equal(r.status, 201);
  assert.equal(r.body.enrollment, undefined);
  assert.equal(r.body.admin.email, 'maire@cinquieme.fr');
  // the emergency key is shown to the tenant's admins
  const minted = (await api(adminVille, 'GET', '/api/v1/audit?limit=200')).body.data;
  assert.ok(minted.some((e) => e.action === 'operator.key_mint' && e.actor.startsWith('operator:')));
});

test('conversations belong to the person: subject member:<id>, only their own, GDPR by person', async () => {
  let r = await api(adminSeconde, 'POST', '/api/v1/assistants', { slug: 'conte', name: 'Conte', model: 'stories', instructions: 'Once upon a time' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  r = await api(adminSeconde, 'POST', '/api/v1/assistants/conte/publish', {});
  assert.equal(r.status, 200, JSON.stringify(r.body));
  pc.setAutoLogin('agent-multi');
  const s = await signIn('proconnect');
  const m0 = (await me(s.cookie)).body;
  r = await asCookie(s.cookie, 'POST', '/auth/choose', { body: { tenant: 'seconde' }, csrf: m0.csrf_token });
  const m = (await me(s.cookie)).body;
  assert.equal(m.role, 'user');
  // "user" names someone else: the session's person wins
  r = await asCookie(s.cookie, 'POST', '/v1/chat/completions', { csrf: m.csrf_token,
    body: { model: 'conte', user: 'quelqu-un-d-autre', max_tokens: 4, messages: [{ role: 'user', content: 'Once' }] } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const conv = r.body.conversation_id;
  assert.ok(conv, 'a conversation was kept');
  // a user key of the same tenant sees none of it; the person sees it
  const k = await api(adminSeconde, 'POST', '/api/v1/keys', { role: 'user' });
  let list = await api(k.body.key, 'GET', '/api/v1/conversations');
  assert.ok(!JSON.stringify(list.body).includes(conv));
  list = await asCookie(s.cookie, 'GET', '/api/v1/conversations');
  assert.equal(list.status, 200);
  assert.ok(JSON.stringify(list.body).includes(conv));
  // GDPR: export and erasure by the person's subject id
  let g = await api(adminSeconde, 'POST', '/api/v1/gdpr/export', { subject: 'quelqu-un-d-autre' });
  assert.ok(!JSON.stringify(g.body).includes(conv), 'the forged "user" is not the subject');
  g = await api(adminSeconde, 'POST', '/api/v1/gdpr/export', { subject: `member:${m.member}` });
  assert.equal(g.status, 200);
  assert.ok(JSON.stringify(g.body).includes(conv), 'export by person finds the conversation');
  g = await api(adminSeconde, 'POST', '/api/v1/gdpr/erase', { subject: `member:${m.member}` });
  assert.equal(g.status, 200, JSON.stringify(g.body));
  list = await asCookie(s.cookie, 'GET', '/api/v1/conversations');
  assert.ok(!JSON.stringify(list.body).includes(conv), 'erased');
});
