// The operator's models page and the tenant's settings page in a real
// browser (Debian's Chromium driven by playwright-core, axe-core for
// accessibility), against the real server with a pool of three upstreams:
// a stand-in model server in the local zone, one on a closed port (taken out
// of service by the health checks) and one in the remote zone, beside the
// embedded stories model.
//
// The operator signs in, sees only the models page: each upstream's health,
// zone and whether personal data leaves masked, the destinations statement;
// the page refreshes by itself, stops while the tab is hidden, says so in a
// live region when a refresh fails. A tenant admin forbids remote inference
// (after a confirmation) and allows it again, the API reflecting each
// change; an editor sees the setting read-only; the assistant form keeps an
// assistant's own "remote" guardrail. axe-core: no serious or critical
// violation on both pages, in French and in English.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { startServer, STORIES } from './lib/server.mjs';
import { startEchoUpstream } from './lib/fault_proxy.mjs';
import { launchChromium, axeCheck } from './lib/browser.mjs';

const SCREENS_COPY = '/tmp/lair-screens';
const STEP = 20000; // longest wait for any one thing in the page
const REFRESH_MS = 5000; // web/assets/models.js

let srv, admin, editor, tmp, shots, ctx, page, localUp, remoteUp, closedUrl;
const pageErrors = [];
const cspErrors = [];
const upstreamCalls = []; // times the page asked GET /api/v1/upstreams
const tenantCalls = []; // tenant routes asked while the operator was signed in
let operatorSignedIn = false;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function shot(name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

// axe-core: nothing serious or critical (axeCheck); the minor violations are
// reported too
async function axe(label) {
  const r = await axeCheck(page, label);
  console.log(`# axe, ${label}: ${r.length ? r.map((v) => `${v.id} (${v.impact})`).join(', ') : 'no violation'}`);
  return r;
}

async function api(method, path, body, key) {
  const res = await fetch(srv.url + path, {
    method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

// A port nothing listens on: bound, then closed.
function closedPort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function signIn(key) {
  await page.goto(srv.url + '/');
  const signout = page.getByRole('button', { name: /Se déconnecter|Sign out/ });
  if (await signout.count()) {
    await signout.click();
  }
  await page.getByLabel("Clé d'API").fill(key);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.locator('h1').filter({ hasNotText: 'Connexion' }).waitFor();
}

async function switchLang(to) {
  await page.getByRole('button', { name: to === 'en' ? 'Switch to English' : 'Passer en français' }).click();
  await page.waitForFunction((l) => document.documentElement.lang === l, to);
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'lair-browser-ops-'));
  shots = join(tmp, 'screens');
  mkdirSync(shots);
  localUp = await startEchoUpstream();
  remoteUp = await startEchoUpstream();
  closedUrl = `http://127.0.0.1:${await closedPort()}/v1`;
  const cfg = join(tmp, 'config.json');
  writeFileSync(cfg, JSON.stringify({
    models: [
      { name: 'pool', health_interval_s: 1, upstreams: [
        { url: `${localUp.url}/v1`, model: 'echo' },
        { url: closedUrl, model: 'echo', connect_timeout_ms: 1000 },
        { url: `${remoteUp.url}/v1`, model: 'echo', zone: 'remote', weight: 2, max_concurrent: 8 },
      ] },
      { name: 'stories', path: STORIES, slots: 1, ctx: 512 },
    ],
  }));
  srv = await startServer(['--config', cfg, '--threads', '1']);
  const r = await api('POST', '/api/v1/tenants', { admin_key: true, slug: 'mairie-ops', name: 'Mairie' }, srv.key);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  admin = r.body.admin_key;
  const k = await api('POST', '/api/v1/keys', { role: 'editor', name: 'rédaction' }, admin);
  assert.equal(k.status, 201, JSON.stringify(k.body));
  editor = k.body.key;
  ctx = await launchChromium({
    profile: join(tmp, 'profile'),
    viewport: { width: 1280, height: 900 },
    locale: 'fr-FR',
  });
  ctx.setDefaultTimeout(STEP);
  page = ctx.pages()[0] || await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspErrors.push(`${page.url()}: ${m.text()}`);
  });
  page.on('request', (req) => {
    const path = new URL(req.url()).pathname;
    if (path === '/api/v1/upstreams') upstreamCalls.push(Date.now());
    else if (operatorSignedIn && path.startsWith('/api/v1/') && !['/api/v1/me', '/api/v1/sovereignty'].includes(path))
      tenantCalls.push(path);
  });
});

after(async () => {
  await ctx?.close();
  await srv?.stop();
  await localUp?.close();
  await remoteUp?.close();
  if (shots && existsSync(shots)) {
    mkdirSync(SCREENS_COPY, { recursive: true });
    for (const f of readdirSync(shots)) copyFileSync(join(shots, f), join(SCREENS_COPY, f));
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('the operator signs in to the models page only', async () => {
  operatorSignedIn = true;
  await signIn(srv.key);
  await page.getByRole('heading', { name: 'Modèles', level: 1 }).waitFor();
  await page.getByText('Connecté : opérateur').waitFor();
  const links = await page.getByRole('navigation').getByRole('link').allTextContents();
  assert.deepEqual(links, ['Modèles'], 'no tenant page, no chat link');
  // a tenant page asked by its address gives the models page, and asks nothing
  await page.goto(srv.url + '/#keys');
  await page.getByRole('heading', { name: 'Modèles', level: 1 }).waitFor();
  await page.goto(srv.url + '/#settings');
  await page.getByRole('heading', { name: 'Modèles', level: 1 }).waitFor();
  assert.equal(await page.getByRole('heading', { name: 'Paramètres' }).count(), 0);
});

test("the models page shows each upstream's health, zone and masking, and where data goes", async () => {
  const pool = page.getByRole('table', { name: 'Serveurs du modèle pool' });
  await pool.waitFor();
  const row = (url) => pool.locator(`tr[data-url="${url}"]`);
  const local = row(`${localUp.url}/v1`);
  const closed = row(closedUrl);
  const remote = row(`${remoteUp.url}/v1`);
  // the closed port fails its health checks: out of service (or being retested)
  await page.waitForFunction((u) => {
    const tr = document.querySelector(`tr[data-url="${u}"]`);
    return tr && ['ejected', 'probing'].includes(tr.dataset.health);
  }, closedUrl, { timeout: STEP });
  assert.match(await closed.locator('.health').textContent(), /Hors service|Test de reprise/);
  assert.notEqual(await closed.locator('td').nth(5).textContent(), '0', 'its failures are counted');
  assert.equal(await local.getAttribute('data-health'), 'healthy');
  assert.match(await local.locator('.health').textContent(), /En service/);
  assert.equal(await local.locator('td').nth(1).textContent(), 'Locale');
  assert.equal(await local.locator('td').nth(2).textContent(), 'transmises telles quelles');
  assert.equal(await remote.getAttribute('data-health'), 'healthy');
  assert.equal(await remote.locator('td').nth(1).textContent(), 'Distante');
  assert.equal(await remote.locator('td').nth(2).textContent(), 'remplacées par des marqueurs');
  assert.match(await remote.locator('td').nth(3).textContent(), /^0 \/ 8$/);
  assert.equal(await remote.locator('td').last().textContent(), '2');
  assert.match(await remote.locator('th').textContent(), /modèle echo/);
  // the models, at a glance
  const models = page.getByRole('table', { name: 'Modèles servis par ce serveur' });
  assert.match(await models.locator('tr[data-model="pool"]').textContent(), /2 en service sur 3.*Oui : données personnelles masquées/);
  assert.match(await models.locator('tr[data-model="stories"]').textContent(), /Dans ce serveur \(fichier GGUF\).*Non/);
  assert.match(await page.locator('.summary').textContent(), /^Serveurs d'inférence \(3\) : 2 en service, 1 (hors service|en test de reprise)\.$/);
  // where data goes
  await page.getByText(/Celles de la zone distante les reçoivent avec les données personnelles repérées remplacées/).waitFor();
  const dest = page.getByRole('table', { name: 'Destinations autorisées' });
  assert.equal(await dest.locator('tbody tr').count(), 3);
  assert.match(await dest.locator('tr[data-zone="remote"]').textContent(), /Distante.*remplacées par des marqueurs/);
  await page.getByText('Télémétrie : aucune').waitFor();
  assert.equal(await page.locator('.raw-statement p[lang="en"]').count(), 1);
  await page.getByText('Que veulent dire ces états ?').click();
  await page.getByText(/Écarté après trois échecs de suite/).waitFor();
  await shot('console-models');
  await axe('models page (fr)');
  assert.deepEqual(tenantCalls, [], 'the operator page asks no tenant route');
});

test('the models page refreshes by itself, not while hidden, and says when a refresh fails', async () => {
  // by itself
  const n0 = upstreamCalls.length;
  for (let i = 0; i < (REFRESH_MS * 2) / 250 && upstreamCalls.length < n0 + 1; i++) await sleep(250);
  assert.ok(upstreamCalls.length > n0, 'asked again within two refresh periods');
  // a hidden tab asks nothing; shown again, it refreshes at once
  await page.evaluate(() => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await sleep(300); // a request under way when the tab was hidden may still land
  const n1 = upstreamCalls.length;
  await sleep(REFRESH_MS + 1000);
  assert.equal(upstreamCalls.length, n1, 'nothing asked while hidden');
  await page.evaluate(() => {
    delete document.hidden;
    delete document.visibilityState;
    document.dispatchEvent(new Event('visibilitychange'));
  });
  for (let i = 0; i < 20 && upstreamCalls.length === n1; i++) await sleep(100);
  assert.ok(upstreamCalls.length > n1, 'refreshed when shown again');
  // a failed refresh: said in the live region, the last figures stay
  const live = page.locator('#models-refresh');
  assert.equal(await live.getAttribute('aria-live'), 'polite');
  await page.route('**/api/v1/upstreams', (route) => route.fulfill({ status: 503,
    contentType: 'application/json', headers: { 'Retry-After': '1' },
    body: JSON.stringify({ error: { message: 'service saturé', type: 'server_error', code: null, param: null } }) }));
  await page.getByRole('button', { name: 'Actualiser maintenant' }).click();
  await live.filter({ hasText: /^Actualisation impossible \(service saturé\)\. Les chiffres affichés datent de/ }).waitFor();
  assert.equal(await page.getByRole('table', { name: 'Serveurs du modèle pool' }).count(), 1);
  await page.unroute('**/api/v1/upstreams');
  await page.getByRole('button', { name: 'Actualiser maintenant' }).click();
  await live.filter({ hasText: 'Actualisation rétablie.' }).waitFor();
  // pause and resume
  await page.getByRole('button', { name: "Suspendre l'actualisation" }).click();
  await live.filter({ hasText: 'Actualisation suspendue.' }).waitFor();
  await page.getByRole('button', { name: "Reprendre l'actualisation" }).click();
  await page.getByRole('button', { name: "Suspendre l'actualisation" }).waitFor();
});

test('the models page in English', async () => {
  await switchLang('en');
  await page.getByRole('heading', { name: 'Models', level: 1 }).waitFor();
  const pool = page.getByRole('table', { name: 'Servers of model pool' });
  await pool.waitFor();
  assert.match(await pool.locator(`tr[data-url="${closedUrl}"] .health`).textContent(), /Out of service|Being retested/);
  assert.equal(await pool.locator(`tr[data-url="${remoteUp.url}/v1"] td`).nth(2).textContent(), 'replaced by markers');
  await page.getByRole('table', { name: 'Allowed destinations' }).waitFor();
  await page.getByText('Signed in: operator').waitFor();
  await shot('console-models-en');
  await axe('models page (en)');
  await switchLang('fr');
  await page.getByRole('heading', { name: 'Modèles', level: 1 }).waitFor();
  assert.deepEqual(tenantCalls, [], 'the operator page asks no tenant route');
});

let signedOutAt = 0; // GET /api/v1/upstreams asked so far when the operator signed out
let signedOutTime = 0;

test('the tenant admin forbids remote inference, then allows it again; the API follows', async () => {
  operatorSignedIn = false;
  await page.getByRole('button', { name: 'Se déconnecter' }).click();
  await page.getByRole('heading', { name: 'Connexion' }).waitFor();
  signedOutAt = upstreamCalls.length;
  signedOutTime = Date.now();
  // the same page, not reloaded: the models page's timer must stop by itself
  await page.getByLabel("Clé d'API").fill(admin);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.getByText('Connecté : mairie-ops · rôle admin').waitFor();
  assert.equal(await page.getByRole('link', { name: 'Modèles' }).count(), 0, 'no models page for a tenant');
  await page.getByRole('link', { name: 'Paramètres' }).click();
  await page.getByRole('heading', { name: 'Paramètres', level: 1 }).waitFor();
  await page.getByText('envoi autorisé, avec les données personnelles remplacées par des marqueurs.').waitFor();
  // the remote servers the operator declared, by their address
  await page.locator('ul.remote-list', { hasText: `${remoteUp.url}/v1` }).waitFor();
  assert.equal(await page.locator('ul.remote-list li').count(), 1, 'only the remote zone is listed');
  const yes = page.getByLabel(/^Oui, avec les données personnelles remplacées/);
  const no = page.getByLabel('Non, jamais');
  assert.equal(await yes.isChecked(), true);
  // nothing to change
  await page.getByRole('button', { name: 'Enregistrer ce choix' }).click();
  await page.getByText("C'est déjà le réglage actuel").waitFor();
  await axe('settings page, admin (fr)');
  // forbid: cancelled first, then confirmed
  await no.check();
  await page.getByRole('button', { name: 'Enregistrer ce choix' }).click();
  await page.getByRole('dialog').getByText(/^Interdire l'envoi des questions à des serveurs distants/).waitFor();
  await page.getByRole('button', { name: 'Annuler' }).click();
  // the page puts the choice back once the dialog has closed: wait for it
  await page.getByRole('dialog').waitFor({ state: 'hidden' });
  let kept = false;
  for (let i = 0; i < 50 && !kept; i++) {
    kept = await yes.isChecked();
    if (!kept) await sleep(100);
  }
  assert.equal(kept, true, 'cancelling keeps the current choice');
  assert.equal((await api('GET', '/api/v1/settings', undefined, admin)).body.remote_inference, 'masked');
  await no.check();
  await page.getByRole('button', { name: 'Enregistrer ce choix' }).click();
  await page.getByRole('button', { name: 'Confirmer' }).click();
  await page.getByText('Réglage enregistré : les questions ne seront plus envoyées à des serveurs distants.').waitFor();
  await page.getByText('envoi interdit, les questions restent sur les serveurs locaux.').waitFor();
  assert.equal((await api('GET', '/api/v1/settings', undefined, admin)).body.remote_inference, 'forbidden');
  await shot('console-settings-admin');
  // in English, after a reload: the stored state
  await switchLang('en');
  await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
  await page.getByText('sending forbidden, questions stay on the local servers.').waitFor();
  assert.equal(await page.getByLabel('No, never').isChecked(), true);
  await page.getByRole('group', { name: 'May the questions of "mairie-ops" be sent to remote servers?' }).waitFor();
  await axe('settings page, admin (en)');
  // allow again
  await page.getByLabel(/^Yes, with personal data replaced by markers/).check();
  await page.getByRole('button', { name: 'Save this choice' }).click();
  await page.getByRole('dialog').getByText(/^Allow sending questions to remote servers/).waitFor();
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.getByText('Setting saved: questions may be sent to remote servers, personal data masked.').waitFor();
  assert.equal((await api('GET', '/api/v1/settings', undefined, admin)).body.remote_inference, 'masked');
  await switchLang('fr');
  const audit = await api('GET', '/api/v1/audit?limit=100', undefined, admin);
  assert.equal(audit.body.data.filter((e) => e.action === 'settings.update' && e.outcome === 'ok').length, 2);
});

test("the assistant form keeps an assistant's own remote guardrail", async () => {
  const c = await api('POST', '/api/v1/assistants', { slug: 'local-seul', model: 'stories',
    guardrails: { remote: 'forbidden' } }, admin);
  assert.equal(c.status, 201, JSON.stringify(c.body));
  // signing out of the models page stopped its refresh: nothing asked since,
  // in this page that has not been reloaded, for more than a refresh period
  await sleep(Math.max(0, signedOutTime + REFRESH_MS + 1000 - Date.now()));
  assert.equal(upstreamCalls.length, signedOutAt, 'no GET /api/v1/upstreams after the operator signed out');
  await page.goto(srv.url + '/#assistants');
  await page.getByRole('button', { name: 'Modifier local-seul' }).click();
  const form = page.locator('form.assistant-form');
  const remote = form.getByLabel("Serveurs d'IA distants");
  assert.equal(await remote.inputValue(), 'forbidden');
  await form.getByLabel('Nom affiché').fill('Local seulement');
  await page.getByRole('button', { name: 'Enregistrer le brouillon' }).click();
  await page.getByText('Brouillon enregistré : version 2.').waitFor();
  const a = await api('GET', '/api/v1/assistants/local-seul', undefined, admin);
  assert.equal(a.body.guardrails.remote, 'forbidden', 'saving from the console keeps it');
  assert.equal(a.body.name, 'Local seulement');
});

test('an editor sees the setting, read-only', async () => {
  await signIn(editor);
  await page.goto(srv.url + '/#settings');
  await page.getByRole('heading', { name: 'Paramètres', level: 1 }).waitFor();
  await page.getByText('envoi autorisé, avec les données personnelles remplacées par des marqueurs.').waitFor();
  await page.getByText('Seul un administrateur de la collectivité peut changer ce réglage.').waitFor();
  assert.equal(await page.locator('input[type="radio"]').count(), 0, 'no control to change it');
  assert.equal(await page.getByRole('button', { name: 'Enregistrer ce choix' }).count(), 0);
  assert.equal(await page.getByRole('link', { name: 'Clés' }).count(), 0);
  assert.equal((await api('PATCH', '/api/v1/settings', { remote_inference: 'forbidden' }, editor)).status, 403);
  assert.equal((await api('GET', '/api/v1/settings', undefined, admin)).body.remote_inference, 'masked');
  await shot('console-settings-editor');
  await axe('settings page, editor (fr)');
  await switchLang('en');
  await page.getByText('Only an administrator of the organisation can change this setting.').waitFor();
  await axe('settings page, editor (en)');
  await switchLang('fr');
});

test('no page error and no CSP violation', () => {
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(cspErrors, []);
});

test('the server stops cleanly (no sanitizer report under make asan)', async () => {
  await srv.stop();
  assert.equal(srv.proc.exitCode, 0, srv.stderr().slice(-2000));
  assert.doesNotMatch(srv.stderr(), /Sanitizer|runtime error/);
});
