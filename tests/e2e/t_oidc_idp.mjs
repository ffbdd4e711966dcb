// The test identity providers checked on their own, before any relying party
// leans on them: a minimal relying party written here (fetch + node:crypto,
// no OIDC library) runs the code flow with PKCE against oidc_idp.mjs
// (oidc-provider, ProConnect and Keycloak profiles), verifies the ID token
// (RS256, ES256) and the signed userinfo against the JWKS, checks siret, acr
// and groups, RP-initiated logout, key rotation, the login page (by form and
// in Chromium when there is one) and the CLI; then checks that each mode of
// hostile_idp.mjs produces exactly the defect it is named after (and that its
// "good" mode passes the same checks).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { startIdp } from './lib/oidc_idp.mjs';
import { startHostileIdp, MODES } from './lib/hostile_idp.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.LAIR_CHROMIUM || '/usr/bin/chromium';
const CB = 'http://127.0.0.1:9/auth/callback'; // never contacted: redirects are read, not followed
const OUT = 'http://127.0.0.1:9/auth/signed-out';
const CLIENT = { clientId: 'libreair-test', clientSecret: 'secret-de-test-0123456789' };

// ---- a minimal relying party ------------------------------------------------

const b64json = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

function pkce() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

async function discover(issuer) {
  const r = await fetch(`${issuer}/.well-known/openid-configuration`);
  assert.equal(r.status, 200);
  return r.json();
}

// Verifies a compact JWS against a JWKS, accepting only the algorithms
// given; returns {header, payload} or throws with the reason.
function verifyJws(jwt, jwks, algs) {
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new Error('malformed');
  const header = b64json(parts[0]);
  const payload = b64json(parts[1]);
  if (!algs.includes(header.alg)) throw new Error(`alg ${header.alg} not allowed`);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk) throw new Error(`kid ${header.kid} not in JWKS`);
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const data = Buffer.from(`${parts[0]}.${parts[1]}`);
  const sig = Buffer.from(parts[2], 'base64url');
  const ok = header.alg === 'ES256'
    ? crypto.verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig)
    : crypto.verify('sha256', data, key, sig);
  if (!ok) throw new Error('bad signature');
  return { header, payload };
}

// The ID token checks of OpenID Connect Core 3.1.3.7; returns the problems found.
function idTokenProblems(p, { issuer, clientId, nonce, acr }) {
  const out = [];
  const t = Math.floor(Date.now() / 1000);
  if (p.iss !== issuer) out.push('iss');
  const aud = Array.isArray(p.aud) ? p.aud : [p.aud];
  if (!aud.includes(clientId)) out.push('aud');
  if (aud.length > 1 && p.azp !== clientId) out.push('azp');
  if (p.azp !== undefined && p.azp !== clientId) out.push('azp');
  if (!(p.exp > t)) out.push('exp');
  if (p.nonce === undefined) out.push('nonce missing');
  else if (p.nonce !== nonce) out.push('nonce');
  if (acr && p.acr !== acr) out.push('acr');
  return [...new Set(out)];
}

function authorizeUrl(disco, { clientId, redirectUri = CB, scope, state, nonce, challenge, extra = {} }) {
  const u = new URL(disco.authorization_endpoint);
  const q = { client_id: clientId, response_type: 'code', scope, redirect_uri: redirectUri, state, nonce, ...extra };
  if (challenge) Object.assign(q, { code_challenge: challenge, code_challenge_method: 'S256' });
  for (const [k, v] of Object.entries(q)) if (v !== undefined) u.searchParams.set(k, v);
  return u;
}

async function tokenRequest(disco, { clientId, clientSecret, code, verifier, redirectUri = CB, auth = 'basic' }) {
  const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri });
  if (verifier) body.set('code_verifier', verifier);
  const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
  if (auth === 'basic') {
    headers.Authorization = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
  } else {
    body.set('client_id', clientId);
    body.set('client_secret', clientSecret);
  }
  const r = await fetch(disco.token_endpoint, { method: 'POST', headers, body });
  return { status: r.status, body: await r.json() };
}

// The whole code flow with PKCE, for a provider that logs in without a form.
async function codeFlow(issuer, { client = CLIENT, scope, acrValues, auth = 'basic', claims, redirectUri = CB } = {}) {
  const disco = await discover(issuer);
  const state = crypto.randomBytes(12).toString('base64url');
  const nonce = crypto.randomBytes(12).toString('base64url');
  const { verifier, challenge } = pkce();
  const extra = {};
  if (acrValues) extra.acr_values = acrValues;
  if (claims) extra.claims = JSON.stringify(claims);
  const r = await fetch(authorizeUrl(disco, { clientId: client.clientId, redirectUri, scope, state, nonce, challenge, extra }),
    { redirect: 'manual' });
  assert.ok(r.status >= 300 && r.status < 400, `authorize answers a redirect (got ${r.status})`);
  const back = new URL(r.headers.get('location'));
  assert.equal(`${back.origin}${back.pathname}`, redirectUri);
  const code = back.searchParams.get('code');
  assert.ok(code, `a code (got ${back.search})`);
  const tok = await tokenRequest(disco, { ...client, code, verifier, redirectUri, auth });
  assert.equal(tok.status, 200, JSON.stringify(tok.body));
  const jwks = await (await fetch(disco.jwks_uri)).json();
  const ui = await fetch(disco.userinfo_endpoint, { headers: { Authorization: `Bearer ${tok.body.access_token}` } });
  assert.equal(ui.status, 200);
  const uiType = ui.headers.get('content-type');
  const uiBody = await ui.text();
  return { disco, jwks, state, nonce, back, code, verifier, tokens: tok.body, uiType, uiBody };
}

// A small cookie jar for the flows a browser would carry.
function jarFetch() {
  const jar = new Map();
  return async (url, init = {}) => {
    const headers = { ...(init.headers || {}) };
    if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const r = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const sc of r.headers.getSetCookie()) {
      const nv = sc.split(';')[0];
      const i = nv.indexOf('=');
      const v = nv.slice(i + 1);
      if (!v || /expires=Thu, 01 Jan 1970/i.test(sc)) jar.delete(nv.slice(0, i)); else jar.set(nv.slice(0, i), v);
    }
    return r;
  };
}

// ---- the providers -----------------------------------------------------------

let pc; let pcEs; let kc; let hostile;

before(async () => {
  pc = await startIdp({ profile: 'proconnect', ...CLIENT, redirectUris: [CB], postLogoutRedirectUris: [OUT],
    autoLogin: 'agent-1', clients: [{ clientId: 'other-client', clientSecret: 'other-secret', redirectUris: [CB] }] });
  pcEs = await startIdp({ profile: 'proconnect', alg: 'ES256', ...CLIENT, redirectUris: [CB],
    postLogoutRedirectUris: [OUT], autoLogin: 'agent-3' });
  kc = await startIdp({ profile: 'keycloak', ...CLIENT, redirectUris: [CB], postLogoutRedirectUris: [OUT],
    autoLogin: 'agent-2' });
  hostile = await startHostileIdp({ ...CLIENT });
});

after(async () => {
  await Promise.all([pc, pcEs, kc, hostile].filter(Boolean).map((x) => x.stop()));
});

test('proconnect profile: discovery like ProConnect', async () => {
  const d = await discover(pc.issuer);
  assert.equal(d.issuer, pc.issuer);
  assert.match(pc.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
  for (const s of ['openid', 'email', 'given_name', 'usual_name', 'siret', 'uid']) assert.ok(d.scopes_supported.includes(s), s);
  for (const c of ['given_name', 'usual_name', 'email', 'uid', 'siret', 'idp_id']) assert.ok(d.claims_supported.includes(c), c);
  assert.deepEqual(d.acr_values_supported, ['eidas1']);
  assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
  assert.ok(d.userinfo_signing_alg_values_supported.includes('RS256'));
  assert.ok(d.id_token_signing_alg_values_supported.includes('ES256'));
  assert.deepEqual(d.token_endpoint_auth_methods_supported.sort(), ['client_secret_basic', 'client_secret_post']);
  assert.equal(d.end_session_endpoint, `${pc.issuer}/session/end`);
});

test('proconnect profile: code flow with PKCE, RS256 ID token, signed userinfo, acr eidas1', async () => {
  const f = await codeFlow(pc.issuer, { scope: 'openid email given_name usual_name siret uid idp_id', acrValues: 'eidas1' });
  assert.equal(f.back.searchParams.get('state'), f.state);
  assert.equal(f.back.searchParams.get('iss'), pc.issuer, 'RFC 9207 iss in the authorization response');
  const { header, payload } = verifyJws(f.tokens.id_token, f.jwks, ['RS256']);
  assert.equal(header.kid, pc.signingKid());
  assert.deepEqual(idTokenProblems(payload, { issuer: pc.issuer, clientId: CLIENT.clientId, nonce: f.nonce, acr: 'eidas1' }), []);
  assert.equal(payload.sub, 'agent-1');
  assert.equal(payload.siret, undefined, 'like ProConnect, the person\'s claims are in userinfo, not the ID token');
  // userinfo: a JWT signed with the same alg, for this client
  assert.match(f.uiType, /^application\/jwt/);
  const ui = verifyJws(f.uiBody, f.jwks, ['RS256']).payload;
  assert.equal(ui.sub, payload.sub);
  assert.equal(ui.iss, pc.issuer);
  assert.equal(ui.aud, CLIENT.clientId);
  assert.match(ui.siret, /^\d{14}$/);
  assert.equal(ui.siret, '21750001600019');
  assert.equal(ui.given_name, 'Marie');
  assert.equal(ui.usual_name, 'Dupont');
  assert.equal(ui.email, 'marie.dupont@mairie-exemple.fr');
  assert.equal(ui.uid, 'mdupont');
  assert.ok(ui.idp_id);
});

test('proconnect profile: acr only when asked, by acr_values or by the claims parameter', async () => {
  pc.setAutoLogin('agent-2');
  try {
    const none = await codeFlow(pc.issuer, { scope: 'openid siret' });
    assert.equal(verifyJws(none.tokens.id_token, none.jwks, ['RS256']).payload.acr, undefined);
    const byClaims = await codeFlow(pc.issuer, { scope: 'openid siret',
      claims: { id_token: { acr: { essential: true, value: 'eidas1' } } } });
    const p = verifyJws(byClaims.tokens.id_token, byClaims.jwks, ['RS256']).payload;
    assert.equal(p.acr, 'eidas1');
    assert.equal(p.sub, 'agent-2');
  } finally {
    pc.setAutoLogin('agent-1');
  }
});

test('proconnect profile: PKCE required, codes single-use, client authentication', async () => {
  const d = await discover(pc.issuer);
  // no code_challenge: refused back to the client
  let r = await fetch(authorizeUrl(d, { clientId: CLIENT.clientId, scope: 'openid', state: 's', nonce: 'n' }), { redirect: 'manual' });
  let back = new URL(r.headers.get('location'));
  assert.equal(back.searchParams.get('error'), 'invalid_request');
  assert.match(back.searchParams.get('error_description'), /PKCE/);
  // plain method is not accepted
  r = await fetch(authorizeUrl(d, { clientId: CLIENT.clientId, scope: 'openid', state: 's', nonce: 'n',
    extra: { code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' } }), { redirect: 'manual' });
  back = new URL(r.headers.get('location'));
  assert.equal(back.searchParams.get('error'), 'invalid_request');

  const { verifier, challenge } = pkce();
  const code = async () => {
    const x = await fetch(authorizeUrl(d, { clientId: CLIENT.clientId, scope: 'openid', state: 's', nonce: 'n', challenge }), { redirect: 'manual' });
    return new URL(x.headers.get('location')).searchParams.get('code');
  };
  // wrong verifier
  let t = await tokenRequest(d, { ...CLIENT, code: await code(), verifier: pkce().verifier });
  assert.equal(t.status, 400);
  assert.equal(t.body.error, 'invalid_grant');
  // client_secret_post accepted, the code then refused a second time
  const c = await code();
  t = await tokenRequest(d, { ...CLIENT, code: c, verifier, auth: 'post' });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  t = await tokenRequest(d, { ...CLIENT, code: c, verifier, auth: 'post' });
  assert.equal(t.status, 400);
  assert.equal(t.body.error, 'invalid_grant');
  // wrong secret
  t = await tokenRequest(d, { ...CLIENT, clientSecret: 'wrong', code: await code(), verifier });
  assert.equal(t.status, 401);
  assert.equal(t.body.error, 'invalid_client');
  // a code issued to this client, redeemed by another
  t = await tokenRequest(d, { clientId: 'other-client', clientSecret: 'other-secret', code: await code(), verifier });
  assert.equal(t.status, 400);
  assert.equal(t.body.error, 'invalid_grant');
  // an unregistered redirect_uri is not redirected to
  r = await fetch(authorizeUrl(d, { clientId: CLIENT.clientId, scope: 'openid', state: 's', nonce: 'n', challenge,
    redirectUri: 'http://127.0.0.1:9/evil' }), { redirect: 'manual' });
  assert.equal(r.status, 400);
});

test('proconnect profile with ES256: ID token and userinfo signed ES256', async () => {
  const f = await codeFlow(pcEs.issuer, { scope: 'openid email siret given_name usual_name' });
  const { header, payload } = verifyJws(f.tokens.id_token, f.jwks, ['ES256']);
  assert.equal(header.alg, 'ES256');
  assert.equal(f.jwks.keys.find((k) => k.kid === header.kid).kty, 'EC');
  assert.deepEqual(idTokenProblems(payload, { issuer: pcEs.issuer, clientId: CLIENT.clientId, nonce: f.nonce }), []);
  assert.throws(() => verifyJws(f.tokens.id_token, f.jwks, ['RS256']), /alg ES256 not allowed/);
  assert.match(f.uiType, /^application\/jwt/);
  const ui = verifyJws(f.uiBody, f.jwks, ['ES256']);
  assert.equal(ui.header.alg, 'ES256');
  assert.equal(ui.payload.siret, '21690123100011');
});

test('keycloak profile: groups, plain JSON userinfo, RS256', async () => {
  const d = await discover(kc.issuer);
  for (const s of ['openid', 'email', 'profile', 'groups']) assert.ok(d.scopes_supported.includes(s), s);
  assert.equal(d.acr_values_supported, undefined);
  const f = await codeFlow(kc.issuer, { scope: 'openid email profile groups', auth: 'post' });
  const { header, payload } = verifyJws(f.tokens.id_token, f.jwks, ['RS256']);
  assert.equal(header.alg, 'RS256');
  assert.deepEqual(idTokenProblems(payload, { issuer: kc.issuer, clientId: CLIENT.clientId, nonce: f.nonce }), []);
  assert.deepEqual(payload.groups, ['etat-civil', 'admins'], 'groups in the ID token, as Keycloak puts them');
  assert.match(f.uiType, /^application\/json/);
  const ui = JSON.parse(f.uiBody);
  assert.equal(ui.sub, 'agent-2');
  assert.deepEqual(ui.groups, ['etat-civil', 'admins']);
  assert.equal(ui.email, 'jean.martin@mairie-exemple.fr');
  assert.equal(ui.siret, undefined);
  // PKCE is optional there
  const r = await fetch(authorizeUrl(d, { clientId: CLIENT.clientId, scope: 'openid', state: 's', nonce: 'n' }), { redirect: 'manual' });
  assert.ok(new URL(r.headers.get('location')).searchParams.get('code'));
});

test('RP-initiated logout redirects to the registered post-logout URI with the state', async () => {
  const f = await codeFlow(pc.issuer, { scope: 'openid' });
  const u = new URL(f.disco.end_session_endpoint);
  u.searchParams.set('id_token_hint', f.tokens.id_token);
  u.searchParams.set('post_logout_redirect_uri', OUT);
  u.searchParams.set('state', 'au-revoir');
  const r = await fetch(u, { redirect: 'manual' });
  assert.equal(r.status, 303);
  const back = new URL(r.headers.get('location'));
  assert.equal(`${back.origin}${back.pathname}`, OUT);
  assert.equal(back.searchParams.get('state'), 'au-revoir');
  // an unregistered one is refused
  u.searchParams.set('post_logout_redirect_uri', 'http://127.0.0.1:9/evil');
  const bad = await fetch(u, { redirect: 'manual' });
  assert.equal(bad.status, 400);
});

test('key rotation: a new kid signs, the old one stays published', async () => {
  const before = await codeFlow(pc.issuer, { scope: 'openid' });
  const oldKid = verifyJws(before.tokens.id_token, before.jwks, ['RS256']).header.kid;
  const kids = await pc.rotateKeys();
  assert.notEqual(pc.signingKid(), oldKid);
  assert.equal(kids.length, 4);
  const afterF = await codeFlow(pc.issuer, { scope: 'openid' });
  const { header } = verifyJws(afterF.tokens.id_token, afterF.jwks, ['RS256']);
  assert.equal(header.kid, pc.signingKid());
  assert.ok(afterF.jwks.keys.some((k) => k.kid === oldKid), 'old key still in the JWKS');
  verifyJws(before.tokens.id_token, afterF.jwks, ['RS256']); // still verifies
  assert.equal(verifyJws(afterF.uiBody, afterF.jwks, ['RS256']).header.kid, pc.signingKid());
  // an ID token from before the rotation still works as id_token_hint
  const u = new URL(afterF.disco.end_session_endpoint);
  u.searchParams.set('id_token_hint', before.tokens.id_token);
  u.searchParams.set('post_logout_redirect_uri', OUT);
  assert.equal((await fetch(u, { redirect: 'manual' })).status, 303);
  // dropOld: the old key is gone from the JWKS
  await pc.rotateKeys({ dropOld: true });
  const jwks = await (await fetch(afterF.disco.jwks_uri)).json();
  assert.equal(jwks.keys.length, 2);
  assert.throws(() => verifyJws(before.tokens.id_token, jwks, ['RS256']), /not in JWKS/);
});

test('the login form: accessible page, unknown account refused, email signs in', async () => {
  const idp = await startIdp({ profile: 'proconnect', ...CLIENT, redirectUris: [CB], postLogoutRedirectUris: [OUT] });
  try {
    const d = await discover(idp.issuer);
    const go = jarFetch();
    const { verifier, challenge } = pkce();
    let r = await go(authorizeUrl(d, { clientId: CLIENT.clientId, scope: 'openid siret', state: 'st', nonce: 'no', challenge }));
    assert.equal(r.status, 303);
    const formUrl = new URL(r.headers.get('location'), idp.issuer);
    assert.match(formUrl.pathname, /^\/interaction\//);
    r = await go(formUrl);
    const html = await r.text();
    assert.match(html, /<html lang="fr">/);
    assert.match(html, /<label for="login">/);
    assert.match(html, /<input id="login" name="login"/);
    assert.match(html, /<button type="submit">Se connecter<\/button>/);
    const action = new URL(html.match(/<form method="post" action="([^"]+)"/)[1], idp.issuer);
    r = await go(action, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'login=personne%40nulle-part.fr' });
    assert.equal(r.status, 200);
    assert.match(await r.text(), /role="alert"[^>]*>Compte inconnu/);
    r = await go(action, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'login=sophie.bernard%40ville-seconde.fr' });
    let loc = new URL(r.headers.get('location'), idp.issuer);
    for (let i = 0; i < 5 && loc.origin === idp.issuer; i++) {
      r = await go(loc);
      loc = new URL(r.headers.get('location'), idp.issuer);
    }
    assert.equal(`${loc.origin}${loc.pathname}`, CB);
    assert.equal(loc.searchParams.get('state'), 'st');
    const t = await tokenRequest(d, { ...CLIENT, code: loc.searchParams.get('code'), verifier });
    assert.equal(t.status, 200);
    assert.equal(b64json(t.body.id_token.split('.')[1]).sub, 'agent-3');
  } finally {
    await idp.stop();
  }
});

test('the login form in Chromium, then RP-initiated logout', { skip: !existsSync(CHROMIUM) && 'no Chromium' }, async () => {
  const { chromium } = await import('playwright-core');
  // a stand-in relying party: the callback and the post-logout page
  const rp = http.createServer((req, res) => { res.writeHead(200, { 'Content-Type': 'text/plain' }); res.end(`rp ${req.url}`); });
  await new Promise((r) => rp.listen(0, '127.0.0.1', r));
  const rpUrl = `http://127.0.0.1:${rp.address().port}`;
  const idp = await startIdp({ profile: 'proconnect', ...CLIENT, redirectUris: [`${rpUrl}/auth/callback`],
    postLogoutRedirectUris: [`${rpUrl}/auth/signed-out`] });
  const tmp = mkdtempSync(join(tmpdir(), 'oidc-idp-'));
  const ctx = await chromium.launchPersistentContext(join(tmp, 'profile'), {
    executablePath: CHROMIUM, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
    locale: 'fr-FR',
  });
  try {
    ctx.setDefaultTimeout(20000);
    const page = await ctx.newPage();
    const d = await discover(idp.issuer);
    const { verifier, challenge } = pkce();
    await page.goto(authorizeUrl(d, { clientId: CLIENT.clientId, redirectUri: `${rpUrl}/auth/callback`,
      scope: 'openid email siret', state: 'browser', nonce: 'nb', challenge, extra: { acr_values: 'eidas1' } }).href);
    // the login page: no serious or critical axe-core violation
    await page.getByRole('button', { name: 'Se connecter' }).waitFor();
    await page.evaluate(readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8'));
    const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] }))
      .violations.filter((v) => ['serious', 'critical'].includes(v.impact)).map((v) => v.id));
    assert.deepEqual(violations, []);
    await page.getByLabel('Adresse électronique ou identifiant').fill('marie.dupont@mairie-exemple.fr');
    await page.getByRole('button', { name: 'Se connecter' }).click();
    await page.waitForURL(`${rpUrl}/auth/callback?**`);
    const cb = new URL(page.url());
    assert.equal(cb.searchParams.get('state'), 'browser');
    const t = await tokenRequest(d, { ...CLIENT, code: cb.searchParams.get('code'), verifier, redirectUri: `${rpUrl}/auth/callback` });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    const jwks = await (await fetch(d.jwks_uri)).json();
    const p = verifyJws(t.body.id_token, jwks, ['RS256']).payload;
    assert.equal(p.sub, 'agent-1');
    assert.equal(p.acr, 'eidas1');
    // signed in at the provider now: a second sign-in goes straight back
    await page.goto(authorizeUrl(d, { clientId: CLIENT.clientId, redirectUri: `${rpUrl}/auth/callback`,
      scope: 'openid', state: 'again', nonce: 'n2', challenge }).href);
    await page.waitForURL(`${rpUrl}/auth/callback?**`);
    // logout: no question asked, back to the post-logout page
    const out = new URL(d.end_session_endpoint);
    out.searchParams.set('id_token_hint', t.body.id_token);
    out.searchParams.set('post_logout_redirect_uri', `${rpUrl}/auth/signed-out`);
    out.searchParams.set('state', 'bye');
    await page.goto(out.href);
    await page.waitForURL(`${rpUrl}/auth/signed-out?**`);
    assert.equal(new URL(page.url()).searchParams.get('state'), 'bye');
    // signed out at the provider: the form again
    await page.goto(authorizeUrl(d, { clientId: CLIENT.clientId, redirectUri: `${rpUrl}/auth/callback`,
      scope: 'openid', state: 's3', nonce: 'n3', challenge }).href);
    await page.getByRole('button', { name: 'Se connecter' }).waitFor();
  } finally {
    await ctx.close();
    await idp.stop();
    rp.close();
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('CLI: one JSON line once listening, control endpoints, keys file, stops on SIGTERM', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'oidc-cli-'));
  const keysFile = join(tmp, 'keys.json');
  const child = spawn(process.execPath, [join(HERE, 'lib/oidc_idp.mjs'), '--profile', 'proconnect', '--port', '0',
    '--client-id', 'cli', '--client-secret', 'cli-secret', '--redirect-uri', CB, '--post-logout-redirect-uri', OUT,
    '--alg', 'ES256', '--keys-file', keysFile, '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  try {
    const line = await new Promise((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d) => { buf += d; if (buf.includes('\n')) resolve(buf.split('\n')[0]); });
      child.on('exit', (c) => reject(new Error(`exited ${c}: ${err}`)));
    });
    const info = JSON.parse(line);
    assert.match(info.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(info.alg, 'ES256');
    assert.equal((await discover(info.issuer)).issuer, info.issuer);
    const kids = JSON.parse(readFileSync(keysFile, 'utf8')).keys.map((k) => k.kid);
    let r = await fetch(`${info.issuer}/_test/auto-login?sub=agent-2`, { method: 'POST' });
    assert.equal(r.status, 200);
    const f = await codeFlow(info.issuer, { client: { clientId: 'cli', clientSecret: 'cli-secret' }, scope: 'openid siret' });
    assert.equal(verifyJws(f.uiBody, f.jwks, ['ES256']).payload.sub, 'agent-2');
    r = await fetch(`${info.issuer}/_test/rotate-keys`, { method: 'POST' });
    const rotated = (await r.json()).kids;
    assert.equal(rotated.length, 4);
    assert.deepEqual(rotated.slice(2), kids);
    assert.deepEqual(JSON.parse(readFileSync(keysFile, 'utf8')).keys.map((k) => k.kid), rotated);
    const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
    child.kill('SIGTERM');
    assert.deepEqual(await exited, { code: 0, sig: null });
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
  assert.doesNotMatch(err, /server_error/);
});

// ---- the hostile double ---------------------------------------------------

// What this relying party finds wrong with one attempt against hostile_idp.
async function hostileAttempt(mode) {
  hostile.setMode(mode);
  const disco = await (await fetch(`${hostile.issuer}/.well-known/openid-configuration`)).json();
  const problems = [];
  if (disco.issuer !== hostile.issuer) problems.push('discovery issuer');
  const state = 'st-' + mode;
  const nonce = 'no-' + mode;
  const { verifier, challenge } = pkce();
  const r = await fetch(authorizeUrl(disco, { clientId: CLIENT.clientId, scope: 'openid siret', state, nonce, challenge,
    extra: { acr_values: 'eidas1' } }), { redirect: 'manual' });
  const back = new URL(r.headers.get('location'));
  if (back.searchParams.get('state') !== state) problems.push('state');
  if (back.searchParams.get('iss') !== hostile.issuer) problems.push('iss parameter');
  const t = await tokenRequest(disco, { ...CLIENT, code: back.searchParams.get('code'), verifier });
  assert.equal(t.status, 200);
  const jwks = await (await fetch(disco.jwks_uri)).json();
  let idt = null;
  try {
    idt = verifyJws(t.body.id_token, jwks, ['RS256']);
  } catch (err) {
    problems.push(`id_token: ${err.message}`);
  }
  if (idt) {
    for (const p of idTokenProblems(idt.payload, { issuer: hostile.issuer, clientId: CLIENT.clientId, nonce, acr: 'eidas1' })) {
      problems.push(`id_token ${p}`);
    }
  }
  const ui = await fetch(disco.userinfo_endpoint, { headers: { Authorization: `Bearer ${t.body.access_token}` } });
  assert.match(ui.headers.get('content-type'), /^application\/jwt/);
  try {
    const u = verifyJws(await ui.text(), jwks, ['RS256']).payload;
    if (idt && u.sub !== idt.payload.sub) problems.push('userinfo sub');
  } catch (err) {
    problems.push(`userinfo: ${err.message}`);
  }
  return { problems, idToken: t.body.id_token };
}

test('hostile double: each mode produces exactly its defect', async () => {
  const expected = {
    good: [],
    alg_none: ['id_token: alg none not allowed'],
    hs256_client_secret: ['id_token: alg HS256 not allowed'],
    hs256_public_key: ['id_token: alg HS256 not allowed'],
    unknown_kid: ['id_token: kid not-in-jwks not in JWKS'],
    bad_signature: ['id_token: bad signature'],
    wrong_iss: ['id_token iss'],
    wrong_aud: ['id_token aud'],
    azp_other_client: ['id_token azp'],
    expired: ['id_token exp'],
    wrong_nonce: ['id_token nonce'],
    missing_nonce: ['id_token nonce missing'],
    missing_acr: ['id_token acr'],
    wrong_state: ['state'],
    wrong_iss_param: ['iss parameter'],
    userinfo_bad_signature: ['userinfo: bad signature'],
    userinfo_alg_none: ['userinfo: alg none not allowed'],
    userinfo_wrong_sub: ['userinfo sub'],
    discovery_wrong_issuer: ['discovery issuer'],
  };
  assert.deepEqual(Object.keys(expected).sort(), Object.keys(MODES).sort(), 'every mode is checked');
  for (const [mode, want] of Object.entries(expected)) {
    const { problems, idToken } = await hostileAttempt(mode);
    assert.deepEqual(problems, want, mode);
    const [h, , s] = idToken.split('.');
    if (mode === 'alg_none') assert.equal(s, '', 'no signature');
    if (mode.startsWith('hs256')) {
      const secret = mode === 'hs256_client_secret' ? CLIENT.clientSecret
        : crypto.createPublicKey({ key: hostile.jwks.keys[0], format: 'jwk' }).export({ type: 'spki', format: 'pem' });
      const input = idToken.split('.').slice(0, 2).join('.');
      assert.equal(crypto.createHmac('sha256', secret).update(input).digest('base64url'), s, `${mode}: a real HMAC`);
      assert.equal(b64json(h).kid, hostile.jwks.keys[0].kid);
    }
  }
  hostile.setMode('good');
  assert.throws(() => hostile.setMode('nope'), /unknown mode/);
  // it recorded what the relying party sent
  const tokenReq = hostile.requests.filter((x) => x.path === '/token').at(-1);
  assert.match(tokenReq.body, /code_verifier=/);
  assert.match(tokenReq.authorization, /^Basic /);
});
