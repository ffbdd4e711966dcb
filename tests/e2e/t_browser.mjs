// The console, the chat page and the widget in a real browser: Debian's
// Chromium driven by playwright-core, against the real server with the
// stories model. An admin signs in, uploads documents by drag and drop and
// watches the job finish, creates an assistant from the form (errors shown
// next to the fields), publishes it, chats with it and opens a cited source;
// a stopped and a broken stream leave a usable panel; the widget answers on
// a page of an allowed origin (keyboard, focus, live region, rate limit) and
// is refused on another; axe-core finds no serious or critical violation.
// Screenshots go to the test's temp dir and to /tmp/lair-screens.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { startServer, STORIES } from './lib/server.mjs';
import { launchChromium, axeCheck } from './lib/browser.mjs';

const SCREENS_COPY = '/tmp/lair-screens';
const STEP = 30000; // longest wait for any one thing in the page

let srv, admin, tmp, shots, ctx, page, allowed, refused;
const pageErrors = [];
const cspErrors = [];

// A small server for the widget's host pages: the same page on two ports
// (two origins), one of them on the assistant's allow-list. The page has a
// strict CSP of its own, as a city's site may: the widget must live with it.
function hostPage(lairUrl) {
  const html = `<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Ville de Test</title></head>
<body><header><h1>Ville de Test</h1></header><main><p>Bienvenue sur le site de la commune.</p></main>
<script src="${lairUrl}/widget.js" data-assistant="ville-test.etat-civil" async></script></body></html>`;
  const csp = `default-src 'self'; script-src ${lairUrl}; connect-src ${lairUrl}; style-src 'self'; img-src 'self'`;
  return new Promise((resolve) => {
    const s = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': csp });
      res.end(html);
    });
    s.listen(0, '127.0.0.1', () => resolve({ server: s, url: `http://127.0.0.1:${s.address().port}` }));
  });
}

async function shot(p, name) {
  const file = join(shots, `${name}.png`);
  await p.screenshot({ path: file, fullPage: true });
  return file;
}

async function api(method, path, body, key = admin) {
  const res = await fetch(srv.url + path, {
    method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null), headers: res.headers };
}

function watch(p) {
  p.on('pageerror', (e) => pageErrors.push(`${p.url()}: ${e.message}`));
  p.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspErrors.push(`${p.url()}: ${m.text()}`);
  });
  return p;
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'lair-browser-'));
  shots = join(tmp, 'screens');
  mkdirSync(shots);
  srv = await startServer(['--model', `stories=${STORIES}`, '--slots', '2', '--ctx', '1024', '--threads', '1']);
  const r = await api('POST', '/api/v1/tenants', { admin_key: true, slug: 'ville-test', name: 'Ville de Test' }, srv.key);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  admin = r.body.admin_key;
  allowed = await hostPage(srv.url);
  refused = await hostPage(srv.url);
  ctx = await launchChromium({
    profile: join(tmp, 'profile'),
    viewport: { width: 1280, height: 900 },
    locale: 'fr-FR',
  });
  ctx.setDefaultTimeout(STEP);
  page = watch(ctx.pages()[0] || await ctx.newPage());
});

after(async () => {
  await ctx?.close();
  allowed?.server.close();
  refused?.server.close();
  await srv?.stop();
  if (shots && existsSync(shots)) {
    mkdirSync(SCREENS_COPY, { recursive: true });
    for (const f of readdirSync(shots)) copyFileSync(join(shots, f), join(SCREENS_COPY, f));
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('pages and the widget are served with strict security headers', async () => {
  for (const path of ['/', '/chat', '/assets/console.js']) {
    const res = await fetch(srv.url + path);
    assert.equal(res.status, 200, path);
    const csp = res.headers.get('content-security-policy');
    assert.match(csp, /default-src 'self'/, path);
    assert.match(csp, /frame-ancestors 'none'/, path);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  }
  const html = await (await fetch(srv.url + '/')).text();
  assert.doesNotMatch(html, /<script>|<style|\sstyle=|\son\w+=/i, 'no inline script or style');
  const w = await fetch(srv.url + '/widget.js');
  assert.equal(w.status, 200);
  assert.match(w.headers.get('content-type'), /^text\/javascript/);
  assert.equal((await fetch(srv.url + '/assets/none.js')).status, 404);
});

test('sign-in refuses a bad key next to the field, then accepts the admin key', async () => {
  await page.goto(srv.url + '/');
  const key = page.getByLabel("Clé d'API");
  await key.fill('lair_nope_nope');
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.getByText('Clé invalide, révoquée ou expirée.').waitFor();
  assert.equal(await key.getAttribute('aria-invalid'), 'true');
  await key.fill(admin);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.getByRole('heading', { name: 'Assistants', level: 1 }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('lair.key') !== null), true);
  assert.equal(await page.evaluate(() => document.cookie), '', 'no cookie');
});

test('knowledge base: create, drag and drop two files, the job finishes with per-file status', async () => {
  await page.goto(srv.url + '/#kb');
  await page.getByRole('heading', { name: 'Bases de connaissances', level: 1 }).waitFor();
  // browser-side validation first
  await page.getByLabel('Identifiant (slug)').fill('Pas Bon');
  await page.getByRole('button', { name: 'Créer' }).click();
  await page.getByText('De 1 à 63 caractères').waitFor();
  await page.getByLabel('Identifiant (slug)').fill('demarches');
  await page.getByLabel('Nom affiché').fill('Démarches');
  await page.getByRole('button', { name: 'Créer' }).click();
  await page.getByRole('heading', { name: 'Documents de demarches' }).waitFor();
  // the server's error next to the field: the slug is taken now
  await page.getByLabel('Identifiant (slug)').fill('demarches');
  await page.getByRole('button', { name: 'Créer' }).click();
  await page.getByText("already exists").waitFor();

  const doc = [
    '# Acte de naissance',
    '',
    "L'acte de naissance se demande à la mairie du lieu de naissance, au guichet état civil,",
    'ou en ligne sur le site de la commune. La délivrance est gratuite et prend trois jours.',
    '',
    '# Carte nationale d’identité',
    '',
    'La carte nationale d’identité se demande sur rendez-vous, avec une photo récente.',
  ].join('\n');
  const dt = await page.evaluateHandle((text) => {
    const d = new DataTransfer();
    d.items.add(new File([text], 'etat-civil.md', { type: 'text/markdown' }));
    d.items.add(new File(['%PDF-1.7\nthis is not really a pdf\n%%EOF'], 'casse.pdf', { type: 'application/pdf' }));
    return d;
  }, doc);
  await page.locator('.dropzone').dispatchEvent('dragover', { dataTransfer: dt });
  await page.locator('.dropzone').dispatchEvent('drop', { dataTransfer: dt });
  await page.getByText(/^Terminé : 2 sur 2, dont 1 en échec/).waitFor();
  assert.equal(await page.locator('progress').evaluate((p) => p.value), 100);
  const md = page.locator('ul.files li', { hasText: 'etat-civil.md' });
  const pdf = page.locator('ul.files li', { hasText: 'casse.pdf' });
  assert.equal(await md.getAttribute('data-state'), 'indexed');
  assert.equal(await pdf.getAttribute('data-state'), 'failed');
  assert.ok((await pdf.locator('.file-error').textContent()).length > 3, 'the failure says why');
  await page.getByRole('cell', { name: 'etat-civil.md', exact: true }).waitFor();
  await shot(page, 'console-kb');
  await axeCheck(page, 'console, knowledge bases');
});

test('assistant: plain words, safe defaults, the form checks fields, shows the server error at its field, saves, publishes, restores', async () => {
  // an assistant already holds the identifier the form will suggest
  const taken = await api('POST', '/api/v1/assistants', { slug: 'etat-civil', name: 'x', model: 'stories', instructions: 'x' });
  assert.equal(taken.status, 201);
  await page.goto(srv.url + '/#assistants');
  await page.getByRole('button', { name: 'Nouvel assistant', exact: true }).click();
  const form = page.locator('form.assistant-form');
  // the model is chosen among those the organisation may use
  const model = form.getByLabel('Modèle de langage');
  assert.deepEqual(await model.locator('option').allTextContents(), ['stories']);
  assert.equal(await model.inputValue(), 'stories');
  // safe defaults: personal data masked; citations required once a base is chosen
  assert.equal(await form.getByLabel('Données personnelles dans les questions').inputValue(), 'mask');
  assert.equal(await form.getByLabel('Sources citées').inputValue(), 'optional');
  await form.getByLabel(/Démarches \(demarches\)/).check();
  assert.equal(await form.getByLabel('Sources citées').inputValue(), 'required');
  // the identifier follows the name
  await form.getByLabel('Nom affiché').fill('État civil');
  assert.equal(await form.getByLabel('Identifiant (slug)').inputValue(), 'etat-civil');
  // engineers' settings are folded away
  assert.equal(await form.getByLabel('Variété des réponses (0 à 2)').isVisible(), false);
  await form.locator('details.advanced summary').click();
  await form.getByLabel('Identifiant (slug)').fill('Etat Civil!');
  await form.getByLabel('Variété des réponses (0 à 2)').fill('5');
  await form.getByLabel('Pertinence minimale d’un extrait (0 à 50)').fill('500');
  await page.getByRole('button', { name: 'Enregistrer le brouillon' }).click();
  await form.getByText('De 1 à 63 caractères').waitFor();
  await form.getByText('Un nombre de 0 à 2.').waitFor();
  await form.locator('[data-param="retrieval.min_score"] .field-error').waitFor();
  assert.equal(await form.getByLabel('Identifiant (slug)').getAttribute('aria-invalid'), 'true');

  // valid in the browser, refused by the server: the identifier is taken
  await form.getByLabel('Identifiant (slug)').fill('etat-civil');
  await form.getByLabel('Variété des réponses (0 à 2)').fill('0');
  await form.getByLabel('Pertinence minimale d’un extrait (0 à 50)').fill('0');
  await page.getByRole('button', { name: 'Enregistrer le brouillon' }).click();
  const slugErr = form.locator('[data-param="slug"] .field-error');
  await slugErr.filter({ hasText: /Un assistant porte déjà cet identifiant/ }).waitFor();
  assert.equal(await form.getByLabel('Identifiant (slug)').getAttribute('aria-invalid'), 'true');
  assert.equal((await api('DELETE', '/api/v1/assistants/etat-civil')).status, 200);

  await form.getByLabel('Nom affiché').fill('Assistant état civil');
  await form.getByLabel('Identifiant (slug)').fill('etat-civil');
  await form.getByLabel('Instructions (consigne système)').fill('Tu réponds aux questions sur l’état civil.');
  await form.getByLabel('Longueur maximale d’une réponse').fill('48');
  await form.getByLabel("Message d'accueil").fill('Bonjour ! Je réponds à vos questions d’état civil.');
  await form.getByLabel(/Questions de départ/).fill('Comment obtenir un acte de naissance ?\nQuels papiers pour une carte d’identité ?');
  await form.getByLabel('Visibilité').selectOption('public');
  await form.getByLabel(/Sites autorisés/).fill(allowed.url);
  await page.getByRole('button', { name: 'Enregistrer le brouillon' }).click();
  await page.getByText('Brouillon enregistré : version 1.').waitFor();
  await page.getByRole('button', { name: 'Publier le brouillon' }).click();
  await page.getByText('Version 1 publiée.').waitFor();
  const snippet = await page.locator('.widget-snippet code').textContent();
  assert.equal(snippet, `<script src="${srv.url}/widget.js" data-assistant="ville-test.etat-civil" async></script>`);
  const stored = await api('GET', '/api/v1/assistants/etat-civil');
  assert.equal(stored.body.published_version, 1);
  assert.deepEqual(stored.body.knowledge_bases, ['demarches']);
  assert.deepEqual(stored.body.allowed_origins, [allowed.url]);
  assert.equal(stored.body.params.max_tokens, 48);
  assert.equal(stored.body.citations, 'required');
  assert.equal(stored.body.guardrails.pii, 'mask');
  assert.equal(stored.body.starters.length, 2);

  // an edit makes version 2; restoring version 1 makes version 3
  await form.getByLabel('Nom affiché').fill('État civil (v2)');
  await page.getByRole('button', { name: 'Enregistrer le brouillon' }).click();
  await page.getByText('Brouillon enregistré : version 2.').waitFor();
  await page.getByRole('button', { name: 'Restaurer v1' }).click();
  await page.getByText('Version 1 restaurée comme brouillon 3.').waitFor();
  assert.equal(await page.locator('form.assistant-form').getByLabel('Nom affiché').inputValue(), 'Assistant état civil');
  const versions = await api('GET', '/api/v1/assistants/etat-civil/versions');
  assert.deepEqual(versions.body.data.map((v) => v.version), [1, 2, 3]);
  await shot(page, 'console-assistant');
  await axeCheck(page, 'console, assistant form');
});

test('chat page: a streamed answer with numbered sources that open the cited excerpt', async () => {
  await page.goto(srv.url + '/chat');
  await page.getByLabel('Assistant', { exact: true }).selectOption('etat-civil');
  await page.getByLabel('Votre message').fill('Comment obtenir un acte de naissance à la mairie ?');
  await page.getByLabel('Votre message').press('Enter');
  const bot = page.locator('.msg.bot').last();
  await bot.locator('.sources li').first().waitFor();
  await page.locator('.msg.bot[aria-busy="false"]').last().waitFor();
  assert.ok((await bot.locator('.body').textContent()).trim().length > 0, 'an answer was written');
  await bot.locator('.sources button').first().click();
  const dlg = page.locator('dialog.source[open]');
  await dlg.waitFor();
  assert.match(await dlg.locator('.meta').textContent(), /etat-civil\.md/);
  assert.match(await dlg.locator('blockquote').textContent(), /acte de naissance/i);
  await shot(page, 'chat-source');
  await page.keyboard.press('Escape');
  await page.locator('dialog.source[open]').waitFor({ state: 'detached' });
  // the conversation is listed and the page has no HTML from the model
  await page.locator('ul.conversations button.conv').first().waitFor();
  assert.equal(await bot.locator('.body script, .body img, .body iframe').count(), 0);
  // hostile model output stays text (OWASP LLM05)
  const r = await page.evaluate(async () => {
    const { renderMarkdown } = await import('/assets/md.js');
    const div = document.createElement('div');
    div.append(renderMarkdown('<img src=x onerror="window.pwned=1"> **gras** [a](javascript:alert(1)) '
      + '[b](https://example.org/x) <script>window.pwned=2</script> [1]\n\n- un\n- deux\n\n```\n<b>code</b>\n```',
    { cite: () => null }));
    document.body.append(div);
    await new Promise((ok) => setTimeout(ok, 50));
    const out = { elements: [...div.querySelectorAll('*')].map((e) => e.tagName).join(','),
      links: [...div.querySelectorAll('a')].map((a) => a.href), text: div.textContent, pwned: window.pwned ?? null };
    div.remove();
    return out;
  });
  assert.equal(r.elements, 'P,STRONG,A,UL,LI,LI,PRE,CODE');
  assert.deepEqual(r.links, ['https://example.org/x']);
  assert.match(r.text, /<img src=x onerror=/);
  assert.match(r.text, /<script>/);
  assert.equal(r.pwned, null);
  await axeCheck(page, 'chat page');
});

test('chat page: stop ends a pending answer; a broken stream shows an error and a retry that works', async () => {
  // an answer that never comes: Stop must end it
  await page.route('**/v1/chat/completions', () => {});
  await page.getByLabel('Votre message').fill('Quels papiers pour une carte ?');
  await page.getByLabel('Votre message').press('Enter');
  await page.getByRole('button', { name: 'Arrêter' }).click();
  await page.getByText('Réponse interrompue.').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Envoyer' }).isVisible(), true);
  await page.unroute('**/v1/chat/completions');

  // a stream cut after its first chunk (no [DONE]): error and retry
  let cut = true;
  await page.route('**/v1/chat/completions', async (route) => {
    if (!cut) return route.continue();
    cut = false;
    await route.fulfill({
      status: 200,
      headers: { 'Content-Type': 'text/event-stream', 'Access-Control-Allow-Origin': '*' },
      body: 'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Pour obtenir"}}]}\n\n',
    });
  });
  await page.getByLabel('Votre message').fill('Et la carte nationale d’identité ?');
  await page.getByLabel('Votre message').press('Enter');
  const bot = page.locator('.msg.bot').last();
  await bot.getByText('La connexion a été perdue pendant la réponse.').waitFor();
  await shot(page, 'chat-lost');
  await bot.getByRole('button', { name: 'Réessayer' }).click();
  await bot.locator('.sources li').first().waitFor();
  await page.locator('.msg.bot[aria-busy="false"]').last().waitFor();
  assert.equal(await bot.getByText('La connexion a été perdue').count(), 0);
  await page.unroute('**/v1/chat/completions');
});

test('the language switch gives English words', async () => {
  await page.getByRole('button', { name: 'Switch to English' }).click();
  await page.getByRole('button', { name: 'New conversation' }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
  await page.getByRole('button', { name: 'Passer en français' }).click();
  await page.getByRole('button', { name: 'Nouvelle conversation' }).waitFor();
});

test('the language switch keeps the assistant editor open with its unsaved edits', async () => {
  await page.goto(srv.url + '/#assistants');
  await page.getByRole('button', { name: 'Modifier etat-civil' }).click();
  const form = page.locator('form.assistant-form');
  await form.getByLabel('Nom affiché').fill('Nom pas encore enregistré');
  await form.getByLabel("Message d'accueil").fill('Accueil modifié');
  await page.getByRole('button', { name: 'Switch to English' }).click();
  await page.locator('form.assistant-form').getByLabel('Display name').waitFor();
  const en = page.locator('form.assistant-form');
  assert.equal(await en.getByLabel('Display name').inputValue(), 'Nom pas encore enregistré');
  assert.equal(await en.getByLabel('Welcome text').inputValue(), 'Accueil modifié');
  await page.getByRole('button', { name: 'Passer en français' }).click();
  await page.locator('form.assistant-form').getByLabel('Nom affiché').waitFor();
  assert.equal(await page.locator('form.assistant-form').getByLabel('Nom affiché').inputValue(), 'Nom pas encore enregistré');
  // nothing was saved by the switch
  assert.equal((await api('GET', '/api/v1/assistants/etat-civil')).body.name, 'Assistant état civil');
});

test('keys: the secret is shown once; revoking works; the audit chain verifies', async () => {
  await page.goto(srv.url + '/#keys');
  await page.getByLabel('Rôle').selectOption('user');
  await page.getByLabel('Libellé').fill('agent');
  await page.getByLabel(/Expiration/).fill('demain');
  await page.getByRole('button', { name: 'Créer la clé' }).click();
  await page.locator('[data-param="expires_in"] .field-error').filter({ hasText: /durée/ }).waitFor();
  await page.getByLabel(/Expiration/).fill('30d');
  await page.getByRole('button', { name: 'Créer la clé' }).click();
  const secret = await page.locator('code.key-secret').textContent();
  assert.match(secret, /^lair_/);
  const row = page.locator('tr', { hasText: 'agent' });
  await row.getByRole('button', { name: /Révoquer/ }).click();
  await page.getByRole('button', { name: 'Confirmer' }).click();
  await row.getByText('révoquée').waitFor();
  const me = await fetch(srv.url + '/api/v1/me', { headers: { Authorization: `Bearer ${secret}` } });
  assert.equal(me.status, 401, 'a revoked key no longer works');
  await page.goto(srv.url + '/#audit');
  await page.getByText(/^Chaîne intègre : \d+ événements vérifiés/).waitFor();
  await page.getByRole('cell', { name: 'key.revoke' }).waitFor();
  await axeCheck(page, 'console, audit');
});

let widgetReference = null; // what the widget showed, for the GDPR test
test('widget on an allowed site: keyboard, welcome, streamed answer with sources, Escape', async () => {
  const w = watch(await ctx.newPage());
  await w.goto(allowed.url + '/');
  const launcher = w.locator('[data-libreair-widget] button.launcher');
  await launcher.waitFor();
  assert.equal(await launcher.getAttribute('aria-expanded'), 'false');
  await launcher.focus();
  await w.keyboard.press('Enter');
  await w.locator('[data-libreair-widget] .panel').waitFor();
  assert.equal(await launcher.getAttribute('aria-expanded'), 'true');
  const active = () => w.evaluate(() => {
    const host = document.querySelector('[data-libreair-widget]');
    const a = host.shadowRoot.activeElement;
    return a ? a.tagName + (a.className ? `.${a.className}` : '') : document.activeElement.tagName;
  });
  assert.equal(await active(), 'TEXTAREA', 'opening puts the focus in the question field');
  await w.locator('[data-libreair-widget] .welcome', { hasText: 'Bonjour !' }).waitFor();
  await w.locator('[data-libreair-widget] button.starter').first().waitFor();
  await axeCheck(w, 'widget, open');
  await w.keyboard.type('Comment obtenir un acte de naissance ?');
  await w.keyboard.press('Enter');
  const bot = w.locator('[data-libreair-widget] .msg.bot').last();
  await bot.locator('details summary').first().waitFor();
  await w.locator('[data-libreair-widget] button.send:not([hidden])').waitFor();
  await bot.locator('details summary').first().click();
  assert.match(await bot.locator('details blockquote').first().textContent(), /acte de naissance/i);
  const live = await w.locator('[data-libreair-widget] [aria-live="polite"]').textContent();
  assert.ok(live.trim().length > 0, 'the answer was given to the live region');
  // the reference the person can quote for their requests
  const refText = await w.locator('[data-libreair-widget] p.reference').textContent();
  widgetReference = refText.match(/[0-9A-F]{4}(-[0-9A-F]{4}){3}/)?.[0];
  assert.ok(widgetReference, `a reference in "${refText}"`);
  await shot(w, 'widget-answer');
  await w.keyboard.press('Escape');
  await w.locator('[data-libreair-widget] .panel').waitFor({ state: 'hidden' });
  assert.equal(await active(), 'BUTTON.launcher', 'Escape gives the focus back to the button');
  // recorded as a conversation of the tenant, under a pseudonymous subject
  const convs = await api('GET', '/api/v1/conversations');
  const c = convs.body.data.find((x) => x.key_id === 'widget');
  assert.ok(c, 'the widget chat is a conversation');
  assert.match(c.subject, /^widget-[0-9a-f]{16}$/);

  // rate limit: exhaust this client's bucket, then the widget says so kindly
  const statuses = await w.evaluate(async (url) => {
    const out = [];
    for (let i = 0; i < 20; i++) {
      const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
      out.push(r.status);
      if (r.status === 429) break;
    }
    return out;
  }, `${srv.url}/public/v1/assistants/ville-test.etat-civil/chat`);
  assert.equal(statuses.at(-1), 429, `statuses ${statuses}`);
  await launcher.click();
  await w.keyboard.type('Encore une question ?');
  await w.keyboard.press('Enter');
  await w.locator('[data-libreair-widget] .note.error', { hasText: /beaucoup de questions.*\d+ secondes/ }).waitFor();
  await shot(w, 'widget-rate-limited');
  await w.close();
});

test("GDPR: a citizen's widget reference finds them; their data read, downloaded and erased; the register as a page", async () => {
  const convs = await api('GET', '/api/v1/conversations');
  const subject = convs.body.data.find((x) => x.key_id === 'widget').subject;
  // what the widget showed the person: the subject's 16 hex digits, grouped
  const hex = subject.replace(/^widget-/, '');
  const reference = hex.toUpperCase().match(/.{4}/g).join('-');
  assert.equal(widgetReference, reference, 'the widget showed the reference of its subject');
  await page.goto(srv.url + '/#gdpr');
  const field = page.getByLabel(/Référence donnée à la personne/);
  await page.getByRole('button', { name: 'Rechercher' }).click();
  await page.locator('[data-param="q"] .field-error', { hasText: 'Champ obligatoire.' }).waitFor();
  // as the person dictates it: lower case, spaces instead of dashes
  await field.fill(` ${hex.match(/.{4}/g).join(' ')} `);
  await page.getByRole('button', { name: 'Rechercher' }).click();
  await page.getByText(`Personne retrouvée par la référence ${reference} du widget.`).waitFor();
  await page.getByText(/^1 conversation\(s\), \d+ message\(s\), du /).waitFor();
  await page.getByRole('button', { name: 'Exporter ses données' }).click();
  await page.getByText('Export prêt.').waitFor();
  const view = page.locator('.export-view');
  await view.locator('.msg.user').first().waitFor();
  assert.ok((await view.locator('.msg').count()) >= 2, 'the question and the answer');
  await page.getByRole('link', { name: 'Télécharger l’export (JSON)' }).waitFor();
  const [dl] = await Promise.all([page.waitForEvent('download'),
    page.getByRole('link', { name: 'Télécharger l’export (page HTML)' }).click()]);
  assert.match(dl.suggestedFilename(), /^export-widget-[0-9a-f]{16}\.html$/);
  const html = readFileSync(await dl.path(), 'utf8');
  assert.match(html, /<h1>Vos données<\/h1>/);
  assert.doesNotMatch(html, /<script/i, 'the HTML export carries no script');
  await axeCheck(page, 'console, GDPR export');
  // an unknown conversation id: a clear 404
  await field.fill('conv_aaaaaaaaaaaaaaaaaaaaaaaa');
  await page.getByRole('button', { name: 'Rechercher' }).click();
  await page.getByText(/Cette conversation n'existe pas \(ou plus\)/).waitFor();
  // erase by the reference again
  await field.fill(reference);
  await page.getByRole('button', { name: 'Effacer ses données' }).click();
  await page.getByRole('dialog').getByText(reference).waitFor();
  await page.getByRole('button', { name: 'Confirmer' }).click();
  await page.getByText('Données effacées.').waitFor();
  await page.getByText(/^Effacé : 1 conversation\(s\), \d+ message\(s\)/).waitFor();
  const after = await api('GET', `/api/v1/conversations?subject=${encodeURIComponent(subject)}`);
  assert.equal(after.body.data.length, 0, "the subject's conversations are gone");
  await page.getByRole('button', { name: 'Rechercher' }).click();
  await page.getByText('Aucune conversation enregistrée pour cette personne.').waitFor();
  // the register, readable, printable, downloadable
  await page.getByRole('button', { name: 'Afficher le registre' }).click();
  await page.getByRole('heading', { name: /Responsable de traitement : .*\(ville-test\)/ }).waitFor();
  await page.locator('.register-view dt', { hasText: 'Durée de conservation' }).first().waitFor();
  await page.getByRole('button', { name: 'Imprimer le registre' }).waitFor();
  for (const l of ['HTML', 'JSON', 'Markdown']) await page.getByRole('link', { name: `Télécharger le registre (${l})` }).waitFor();
  await shot(page, 'console-gdpr');
  await axeCheck(page, 'console, GDPR');
});

test('widget on a site not on the allow-list is refused', async () => {
  const w = watch(await ctx.newPage());
  const warned = w.waitForEvent('console', { predicate: (m) => /not available on this site/.test(m.text()) });
  await w.goto(refused.url + '/');
  await warned;
  assert.equal(await w.locator('[data-libreair-widget]').count(), 0, 'no widget drawn');
  const reached = await w.evaluate(async (url) => {
    try {
      await fetch(url);
      return 'read';
    } catch {
      return 'blocked';
    }
  }, `${srv.url}/public/v1/assistants/ville-test.etat-civil`);
  assert.equal(reached, 'blocked', 'the browser keeps the answer from the page');
  const res = await fetch(`${srv.url}/public/v1/assistants/ville-test.etat-civil/chat`, {
    method: 'POST', headers: { Origin: refused.url, 'Content-Type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'Bonjour' }] }),
  });
  assert.equal(res.status, 403);
  assert.equal(res.headers.get('access-control-allow-origin'), null);
  assert.equal((await res.json()).error.code, 'origin_not_allowed');
  await shot(w, 'widget-refused');
  await w.close();
});

test('no page error and no CSP violation on the console, chat page and widget', () => {
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(cspErrors, []);
});

test('the server stops cleanly (no sanitizer report under make asan)', async () => {
  await srv.stop();
  assert.equal(srv.proc.exitCode, 0, srv.stderr().slice(-2000));
  assert.doesNotMatch(srv.stderr(), /Sanitizer|runtime error/);
});
