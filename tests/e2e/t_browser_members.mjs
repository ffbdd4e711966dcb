// The console's Members page in a real browser (Debian's Chromium driven by
// playwright-core, against the real server): an admin signs in with a key
// (the sign-in page offers no provider when none is configured), invites a
// person by email (a wrong address is refused next to the field, a second
// invitation of the same person shows the server's sentence there), changes
// their role, removes them after a confirmation; edits the access rules (a
// SIRET with a wrong Luhn key refused in the page, a duplicate refused by the
// server at the rule it names, then saved); sees the operator's actions in
// its organisation (the emergency key minted at creation); the page passes
// axe-core with no serious or critical violation, in French and in English.
// Then a person signs in with a provider (the test provider configured like
// ProConnect, tests/e2e/lib/oidc_idp.mjs): the sign-in page shows its
// button above the key form, the SIRET rule lets her in as an admin, the top
// bar shows her name, the page's changes carry the session's CSRF token (a
// request without it is refused), signing out ends the session at the
// provider too; a person of two organisations chooses one, then signs out of
// all devices. Every change is checked through the API, not only on screen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { startServer } from './lib/server.mjs';
import { startIdp } from './lib/oidc_idp.mjs';
import { launchChromium, axeCheck } from './lib/browser.mjs';

const SCREENS_COPY = '/tmp/lair-screens';
const STEP = 30000; // longest wait for any one thing in the page
const EMAIL = 'claire.dubois@ville-test.fr';

let srv, admin, tmp, shots, ctx, page;
const pageErrors = [];
const cspErrors = [];

async function shot(p, name) {
  await p.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function api(method, path, body, key = admin) {
  const res = await fetch(srv.url + path, {
    method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

const members = async () => (await api('GET', '/api/v1/members')).body.data;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'lair-browser-members-'));
  shots = join(tmp, 'screens');
  mkdirSync(shots);
  srv = await startServer([]);
  const r = await api('POST', '/api/v1/tenants', { admin_key: true, slug: 'ville-test', name: 'Ville de Test' }, srv.key);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  admin = r.body.admin_key;
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
});

after(async () => {
  await ctx?.close();
  await srv?.stop();
  if (shots && existsSync(shots)) {
    mkdirSync(SCREENS_COPY, { recursive: true });
    for (const f of readdirSync(shots)) copyFileSync(join(shots, f), join(SCREENS_COPY, f));
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('sign-in without a provider: the key form only; the admin key opens the Members page', async () => {
  await page.goto(srv.url + '/#members');
  await page.getByRole('heading', { name: 'Connexion', level: 1 }).waitFor();
  assert.equal(await page.locator('ul.providers').count(), 0, 'no provider button when none is configured');
  assert.equal(await page.getByRole('heading', { name: 'Se connecter avec une clé' }).count(), 0);
  await axeCheck(page, 'sign-in, keys only');
  await page.getByLabel("Clé d'API").fill(admin);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.getByRole('heading', { name: 'Membres', level: 1 }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'Membres' }).getAttribute('aria-current'), 'page');
  assert.equal(await page.getByRole('button', { name: 'Se déconnecter de tous les appareils' }).count(), 0,
    'signing out everywhere is for sessions, not keys');
});

test('invite: a wrong address at its field, then invited, listed; a second invitation refused at the field', async () => {
  const form = page.locator('form', { has: page.getByRole('heading', { name: 'Inviter une personne' }) });
  const email = form.getByLabel('Adresse électronique');
  await email.fill('claire.dubois');
  await form.getByRole('button', { name: 'Inviter' }).click();
  await form.locator('[data-param="email"] .field-error').filter({ hasText: 'adresse électronique complète' }).waitFor();
  assert.equal(await email.getAttribute('aria-invalid'), 'true');
  assert.equal((await members()).length, 0, 'nothing sent');

  await email.fill('Claire.Dubois@Ville-Test.fr');
  await form.getByLabel('Rôle').selectOption('editor');
  await form.getByRole('button', { name: 'Inviter' }).click();
  await form.getByText(`Invitation enregistrée pour ${EMAIL}, avec le rôle éditeur.`).waitFor();
  const row = page.locator('tr', { hasText: EMAIL });
  await row.waitFor();
  assert.equal(await row.getByRole('combobox', { name: `Rôle de ${EMAIL}` }).inputValue(), 'editor');
  await row.getByRole('cell', { name: 'jamais' }).waitFor();
  await row.getByRole('cell', { name: 'invitation' }).waitFor();
  const list = await members();
  assert.deepEqual(list.map((m) => [m.email, m.role, m.source]), [[EMAIL, 'editor', 'named']]);

  await email.fill(EMAIL);
  await form.getByRole('button', { name: 'Inviter' }).click();
  await form.locator('[data-param="email"] .field-error').filter({ hasText: 'déjà membre' }).waitFor();
  assert.equal((await members()).length, 1);
});

test('change the role, then remove after a confirmation (cancel first)', async () => {
  const row = page.locator('tr', { hasText: EMAIL });
  await row.getByRole('combobox', { name: `Rôle de ${EMAIL}` }).selectOption('admin');
  await row.getByRole('button', { name: `Changer le rôle de ${EMAIL}` }).click();
  await page.getByText(`${EMAIL} a maintenant le rôle administrateur.`).waitFor();
  assert.equal((await members())[0].role, 'admin');

  await page.locator('tr', { hasText: EMAIL }).getByRole('button', { name: `Retirer ${EMAIL}` }).click();
  const dlg = page.getByRole('dialog');
  await dlg.getByText(/Ses sessions se terminent/).waitFor();
  await dlg.getByRole('button', { name: 'Annuler' }).click();
  assert.equal((await members()).length, 1, 'cancelled: still a member');
  await page.locator('tr', { hasText: EMAIL }).getByRole('button', { name: `Retirer ${EMAIL}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Confirmer' }).click();
  await page.getByText(`${EMAIL} ne fait plus partie de l'organisation.`).waitFor();
  await page.getByText('Aucun membre pour le moment').waitFor();
  assert.equal((await members()).length, 0);
});

test('access rules: a wrong SIRET key refused in the page, a duplicate refused by the server at its rule, then saved', async () => {
  const form = page.locator('form.rules');
  await form.getByText('Aucune règle').waitFor();
  const rule = (n) => form.locator('fieldset', { has: page.getByText(`Règle ${n}`, { exact: true }) });

  await form.getByRole('button', { name: 'Ajouter une règle' }).click();
  assert.equal(await rule(1).getByLabel('Type').inputValue(), 'siret');
  await rule(1).getByLabel('Numéro SIRET').fill('213 105 554 00018');
  await form.getByRole('button', { name: 'Enregistrer les règles' }).click();
  await rule(1).locator('.field-error').filter({ hasText: 'clé de contrôle' }).waitFor();
  assert.equal(await rule(1).getByLabel('Numéro SIRET').getAttribute('aria-invalid'), 'true');
  assert.deepEqual((await api('GET', '/api/v1/access')).body.rules, [], 'nothing sent');
  await rule(1).getByLabel('Numéro SIRET').fill('213 105 554 00017');

  await form.getByRole('button', { name: 'Ajouter une règle' }).click();
  await rule(2).getByLabel('Type').selectOption('domain');
  await rule(2).getByLabel('Domaine', { exact: true }).fill('@Ville-Test.fr');
  await rule(2).getByLabel('Rôle donné').selectOption('editor');
  await form.getByRole('button', { name: 'Ajouter une règle' }).click();
  await rule(3).getByLabel('Type').selectOption('domain');
  await rule(3).getByLabel('Domaine', { exact: true }).fill('ville-test.fr');
  await form.getByRole('button', { name: 'Enregistrer les règles' }).click();
  // the server names rules[2].value: the message is at the third rule
  await rule(3).locator('.field-error').filter({ hasText: 'same kind' }).waitFor();
  assert.deepEqual((await api('GET', '/api/v1/access')).body.rules, [], 'a refused replacement stores nothing');

  await rule(3).getByRole('button', { name: 'Retirer la règle 3' }).click();
  assert.equal(await form.locator('fieldset.rule').count(), 2);
  await form.getByRole('button', { name: 'Enregistrer les règles' }).click();
  await form.getByText('Règles enregistrées (2).').waitFor();
  const rules = (await api('GET', '/api/v1/access')).body.rules;
  assert.deepEqual(rules.map((r) => [r.kind, r.value, r.role]).sort(),
    [['domain', 'ville-test.fr', 'editor'], ['siret', '21310555400017', 'user']]);
});

test("the operator's actions: the emergency key minted at creation; axe in French and English", async () => {
  const panel = page.locator('section', { has: page.getByRole('heading', { name: "Actions de l'opérateur" }) });
  await panel.getByRole('cell', { name: 'operator.key_mint' }).waitFor();
  assert.equal(await panel.getByRole('cell', { name: 'member.add' }).count(), 0, 'only the operator\'s actions');
  await shot(page, 'console-members');
  await axeCheck(page, 'console, members');
  // the audit log has what the page did, without the email
  const audit = (await api('GET', '/api/v1/audit?limit=1000')).body.data;
  for (const action of ['member.add', 'member.role', 'member.remove', 'access.rules']) {
    assert.ok(audit.some((e) => e.action === action), `${action} audited`);
  }
  assert.ok(!JSON.stringify(audit).includes('claire'), 'no email in the audit log');

  await page.getByRole('button', { name: 'Switch to English' }).click();
  await page.getByRole('heading', { name: 'Members', level: 1 }).waitFor();
  await page.getByRole('heading', { name: 'Access rules' }).waitFor();
  await page.locator('form.rules').getByLabel('SIRET number').waitFor();
  await axeCheck(page, 'console, members, English');
  await page.getByRole('button', { name: 'Passer en français' }).click();
  await page.getByRole('heading', { name: 'Membres', level: 1 }).waitFor();
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(cspErrors, []);
});

// A port nobody listens on now, for a server whose address the provider
// must know before it starts (its redirect URI).
function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

test('a person signs in with the provider: button, SIRET rule, name in the bar, CSRF, sign-out at the provider', async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const client = { clientId: 'libreair-members', clientSecret: 'secret-de-test-members-0123456789' };
  const idp = await startIdp({ profile: 'proconnect', port: 0, ...client, autoLogin: 'agent-1',
    redirectUris: [`${base}/auth/callback`], postLogoutRedirectUris: [`${base}/auth/signed-out`] });
  const cfg = join(tmp, 'oidc.json');
  writeFileSync(cfg, JSON.stringify({ oidc: { public_url: base, providers: [{ id: 'proconnect', name: 'ProConnect',
    issuer: idp.issuer, client_id: client.clientId, client_secret: client.clientSecret,
    scopes: 'openid email given_name usual_name siret' }] } }));
  const s2 = await startServer(['--config', cfg, '--listen', `127.0.0.1:${port}`]);
  const browser = await launchChromium();
  try {
    assert.equal(s2.url, base);
    const call = async (method, path, body, key) => {
      const res = await fetch(base + path, { method, headers: { Authorization: `Bearer ${key}`,
        'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, body: await res.json().catch(() => null) };
    };
    const t = await call('POST', '/api/v1/tenants', { admin_key: true, slug: 'paris-test', name: 'Paris Test' }, s2.key);
    assert.equal(t.status, 201, JSON.stringify(t.body));
    const key = t.body.admin_key;
    // agent-1's organisation (ProConnect's siret claim) enters as admin
    assert.equal((await call('PUT', '/api/v1/access',
      { rules: [{ kind: 'siret', value: '21750001600019', role: 'admin', provider: 'proconnect' }] }, key)).status, 200);

    const p = await (await browser.newContext({ locale: 'fr-FR' })).newPage();
    const errors = [];
    p.on('pageerror', (e) => errors.push(e.message));
    await p.goto(`${base}/#members`);
    const button = p.getByRole('link', { name: 'Se connecter avec ProConnect' });
    await button.waitFor();
    assert.match(await button.getAttribute('href'), /^\/auth\/login\?provider=proconnect&next=%2Fconsole%23members$/);
    await p.getByRole('heading', { name: 'Se connecter avec une clé', level: 2 }).waitFor();
    await p.getByLabel("Clé d'API").waitFor();
    await axeCheck(p, 'sign-in with a provider');
    await shot(p, 'signin-providers');

    await button.click();
    await p.getByRole('heading', { name: 'Membres', level: 1 }).waitFor();
    await p.locator('.top .who', { hasText: 'Marie Dupont · Paris Test · administrateur' }).waitFor();
    assert.equal(await p.evaluate(() => sessionStorage.getItem('lair.key')), null, 'no key: the session cookie');
    const me = p.locator('tr', { hasText: 'marie.dupont@mairie-exemple.fr' });
    await me.getByRole('cell', { name: 'règle SIRET' }).waitFor();

    // a change made by the page carries the CSRF token ...
    const form = p.locator('form', { has: p.getByRole('heading', { name: 'Inviter une personne' }) });
    await form.getByLabel('Adresse électronique').fill('jean.martin@mairie-exemple.fr');
    await form.getByRole('button', { name: 'Inviter' }).click();
    await form.getByText(/^Invitation enregistrée pour jean\.martin@mairie-exemple\.fr/).waitFor();
    const list = (await call('GET', '/api/v1/members', undefined, key)).body.data;
    assert.deepEqual(list.map((m) => m.email).sort(), ['jean.martin@mairie-exemple.fr', 'marie.dupont@mairie-exemple.fr']);
    // ... and one made with the cookie alone is refused
    const bare = await p.evaluate(async () => {
      const r = await fetch('/api/v1/members', { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: 'eve@mairie-exemple.fr', role: 'admin' }) });
      return { status: r.status, code: (await r.json()).error?.code };
    });
    assert.deepEqual(bare, { status: 403, code: 'csrf' });
    assert.equal((await call('GET', '/api/v1/members', undefined, key)).body.data.length, 2);
    await axeCheck(p, 'members, signed in with a session');

    // signing out: the session ends here and at the provider, back to the sign-in page
    await p.getByRole('button', { name: 'Se déconnecter', exact: true }).click();
    await p.getByRole('link', { name: 'Se connecter avec ProConnect' }).waitFor();
    const after = await p.evaluate(async () => (await fetch('/auth/me')).status);
    assert.equal(after, 401);
    const audit = (await call('GET', '/api/v1/audit?limit=1000', undefined, key)).body.data;
    assert.ok(audit.some((e) => e.action === 'member.add' && e.detail.includes('role:user')));
    assert.ok(!JSON.stringify(audit).includes('jean.martin'), 'no email in the audit log');

    // a person of two organisations chooses one (SIRET of one, email domain of the other)
    const t2 = await call('POST', '/api/v1/tenants', { admin_key: true, slug: 'ville-seconde', name: 'Ville Seconde' }, s2.key);
    assert.equal((await call('PUT', '/api/v1/access',
      { rules: [{ kind: 'domain', value: 'ville-seconde.fr', role: 'user' }] }, t2.body.admin_key)).status, 200);
    idp.setAutoLogin('agent-multi');
    await p.getByRole('link', { name: 'Se connecter avec ProConnect' }).click();
    await p.getByRole('heading', { name: 'Choisissez votre organisation', level: 1 }).waitFor();
    await p.getByRole('button', { name: /Ville Seconde/ }).waitFor();
    await axeCheck(p, 'choosing an organisation');
    await p.getByRole('button', { name: /Paris Test.*administrateur/ }).click();
    // after the provider, /console?choose=1: the console's first page once chosen
    await p.locator('.top .who', { hasText: 'Claire Moreau · Paris Test · administrateur' }).waitFor();
    await p.getByRole('link', { name: 'Membres' }).waitFor();
    await p.getByRole('button', { name: 'Se déconnecter de tous les appareils' }).click();
    await p.getByRole('link', { name: 'Se connecter avec ProConnect' }).waitFor();
    assert.equal(await p.evaluate(async () => (await fetch('/auth/me')).status), 401);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await s2.stop();
    await idp.stop();
  }
});
