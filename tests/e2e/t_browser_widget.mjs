// The widget's theme and grouped sources in a real browser (Debian's
// Chromium driven by playwright-core, the real server with the stories
// model; issue 15, items 5 and 8). The assistant sets the colour, the
// position, the title and the launcher's label, and they show on a city's
// page; the tag's data- attributes override them; a data-color too light for
// white text is ignored with a console warning; the console's assistant form
// shows the server's refusal of such a colour next to the field, with the
// ratio. An answer from two passages of one document shows one source with
// both excerpts inside. axe-core finds no serious or critical violation.
// Screenshots go to the test's temp dir and to /tmp/lair-screens.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { startServer, STORIES } from './lib/server.mjs';
import { launchChromium, axeCheck } from './lib/browser.mjs';

const SCREENS_COPY = '/tmp/lair-screens';
const STEP = 30000;
const W = '[data-libreair-widget]';

let srv, admin, tmp, shots, ctx, site;
const pageErrors = [];

// A city's page on its own origin, with the widget's tag and the data-
// attributes of the query string (?color=…&position=…&title=…&label=…).
function hostSite(lairUrl) {
  return new Promise((resolve) => {
    const s = http.createServer((req, res) => {
      const q = new URL(req.url, 'http://x').searchParams;
      const esc = (v) => v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
      const attrs = [['color', 'data-color'], ['position', 'data-position'], ['title', 'data-title'],
        ['label', 'data-launcher-label']].filter(([k]) => q.has(k)).map(([k, a]) => ` ${a}="${esc(q.get(k))}"`).join('');
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8',
        'Content-Security-Policy': `default-src 'self'; script-src ${lairUrl}; connect-src ${lairUrl}; style-src 'self'` });
      res.end(`<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Ville de Test</title></head>
<body><header><h1>Ville de Test</h1></header><main><p>Bienvenue sur le site de la commune.</p></main>
<script src="${lairUrl}/widget.js" data-assistant="ville-test.transports"${attrs} async></script></body></html>`);
    });
    s.listen(0, '127.0.0.1', () => resolve({ server: s, url: `http://127.0.0.1:${s.address().port}` }));
  });
}

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

// A page of the city's site; its console warnings are collected.
async function open(query = '') {
  const p = await ctx.newPage();
  const warnings = [];
  p.on('pageerror', (e) => pageErrors.push(`${p.url()}: ${e.message}`));
  p.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
  await p.goto(`${site.url}/${query}`);
  await p.locator(`${W} button.launcher`).waitFor();
  return { p, warnings };
}

const launcherLook = (p) => p.locator(`${W} button.launcher`).evaluate((b) => {
  const r = b.getBoundingClientRect();
  return { bg: getComputedStyle(b).backgroundColor, text: b.textContent.trim(), name: b.getAttribute('aria-label'),
    left: r.left, right: innerWidth - r.right };
});

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'lair-widget-'));
  shots = join(tmp, 'screens');
  mkdirSync(shots);
  srv = await startServer(['--model', `stories=${STORIES}`, '--slots', '2', '--ctx', '2048', '--threads', '1']);
  let r = await api('POST', '/api/v1/tenants', { admin_key: true, slug: 'ville-test', name: 'Ville de Test' }, srv.key);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  admin = r.body.admin_key;
  site = await hostSite(srv.url);
  // a knowledge base with one document of two sections (two passages)
  r = await api('POST', '/api/v1/knowledge-bases', { slug: 'transports', name: 'Transports' });
  assert.ok(r.status === 200 || r.status === 201, JSON.stringify(r.body));
  const doc = ['# Transports en commun', '', '## Bus urbain', '',
    'Le bus urbain passe toutes les dix minutes en semaine. Les horaires du bus sont affichés à chaque arrêt.', '',
    '## Tramway', '', 'Le tramway circule de cinq heures à minuit. Les horaires du tramway sont plus espacés le dimanche.',
    ''].join('\n');
  const fd = new FormData();
  fd.append('file', new Blob([doc], { type: 'text/markdown' }), 'transport.md');
  const up = await fetch(`${srv.url}/api/v1/knowledge-bases/transports/documents`, {
    method: 'POST', headers: { Authorization: `Bearer ${admin}` }, body: fd });
  const job = (await up.json()).job_id;
  assert.ok(job, 'upload gave a job');
  for (let i = 0; i < 300; i++) {
    r = await api('GET', `/api/v1/jobs/${job}`);
    if (r.body.state === 'done' || r.body.state === 'failed') break;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  assert.equal(r.body.state, 'done', JSON.stringify(r.body));
  r = await api('POST', '/api/v1/assistants', {
    slug: 'transports', name: 'Assistant transports', model: 'stories', params: { max_tokens: 16 },
    knowledge_bases: ['transports'], citations: 'required', welcome: 'Bonjour !', visibility: 'public',
    allowed_origins: [site.url],
    widget: { color: '#0B5394', position: 'bottom-left', title: 'Mairie de Test', launcher_label: 'Une question ?' },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.widget.color, '#0b5394');
  r = await api('POST', '/api/v1/assistants/transports/publish', {});
  assert.equal(r.status, 200, JSON.stringify(r.body));
  ctx = await launchChromium({
    profile: join(tmp, 'profile'),
    viewport: { width: 1280, height: 900 },
    locale: 'fr-FR',
  });
  ctx.setDefaultTimeout(STEP);
});

after(async () => {
  await ctx?.close();
  site?.server.close();
  await srv?.stop();
  if (shots && existsSync(shots)) {
    mkdirSync(SCREENS_COPY, { recursive: true });
    for (const f of readdirSync(shots)) copyFileSync(join(shots, f), join(SCREENS_COPY, f));
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test("the assistant's theme: colour, position, title, launcher label; grouped sources in an answer", async () => {
  const { p, warnings } = await open();
  const look = await launcherLook(p);
  assert.equal(look.bg, 'rgb(11, 83, 148)', 'the assistant’s colour');
  assert.equal(look.text, 'Une question ?', 'the launcher shows its label');
  assert.equal(look.name, null, 'a labelled launcher is named by its text');
  assert.ok(look.left < 40 && look.right > 600, `bottom-left: ${JSON.stringify(look)}`);
  await shot(p, 'widget-theme-closed');
  await p.locator(`${W} button.launcher`).click();
  await p.locator(`${W} .panel h2`, { hasText: 'Mairie de Test' }).waitFor();
  const head = await p.locator(`${W} .head`).evaluate((e) => getComputedStyle(e).backgroundColor);
  assert.equal(head, 'rgb(11, 83, 148)');
  const panelLeft = await p.locator(`${W} .panel`).evaluate((e) => e.getBoundingClientRect().left);
  assert.ok(panelLeft < 40, 'the panel opens on the left too');

  // two passages of transport.md: one source [1], both excerpts inside
  await p.locator(`${W} textarea`).fill('Quels sont les horaires du bus urbain et du tramway ?');
  await p.locator(`${W} textarea`).press('Enter');
  const summary = p.locator(`${W} .sources summary`).first();
  await summary.waitFor();
  await p.locator(`${W} button.send:not([hidden])`).waitFor();
  assert.equal(await p.locator(`${W} .sources summary`).count(), 1, 'one source for the one document');
  assert.equal(await summary.textContent(), '[1] transport.md (2 extraits)');
  await summary.click();
  const quotes = p.locator(`${W} .sources details[open] blockquote`);
  assert.equal(await quotes.count(), 2);
  const texts = await quotes.allTextContents();
  assert.ok(texts.some((x) => /bus urbain/i.test(x)) && texts.some((x) => /tramway/i.test(x)), texts.join(' | '));
  assert.match(texts.join(' '), /Transports en commun > Bus urbain/, 'each passage under its section');
  await shot(p, 'widget-theme-grouped-sources');
  await axeCheck(p, 'widget themed, grouped sources open');
  assert.deepEqual(warnings, []);
  await p.close();
});

test('data- attributes override the theme; a colour too light for white text is ignored with a warning', async () => {
  let { p, warnings } = await open('?color=%236a1b9a&position=bottom-right&title=Aide%20en%20ligne&label=Aide');
  let look = await launcherLook(p);
  assert.equal(look.bg, 'rgb(106, 27, 154)', 'data-color');
  assert.equal(look.text, 'Aide', 'data-launcher-label');
  assert.ok(look.right < 40 && look.left > 600, `data-position bottom-right: ${JSON.stringify(look)}`);
  await p.locator(`${W} button.launcher`).click();
  await p.locator(`${W} .panel h2`, { hasText: 'Aide en ligne' }).waitFor();
  await shot(p, 'widget-theme-override');
  await axeCheck(p, 'widget with data- overrides');
  assert.deepEqual(warnings, []);
  await p.close();

  // #ffcc00 under white text is 1.51:1: ignored, the assistant's colour stays
  ({ p, warnings } = await open('?color=%23ffcc00&position=top-left'));
  look = await launcherLook(p);
  assert.equal(look.bg, 'rgb(11, 83, 148)', 'the refused data-color is not applied');
  assert.ok(look.left < 40, 'a bad data-position is ignored too');
  const contrastWarning = warnings.find((w) => /data-color ignored/.test(w));
  assert.ok(contrastWarning, `no warning: ${JSON.stringify(warnings)}`);
  assert.match(contrastWarning, /#ffcc00.*1\.51:1.*4\.5:1/);
  assert.ok(warnings.some((w) => /data-position ignored/.test(w)), JSON.stringify(warnings));
  await p.close();
});

test('the console: the theme fields, and a colour under 4.5:1 refused next to its field with the ratio', async () => {
  const p = await ctx.newPage();
  p.on('pageerror', (e) => pageErrors.push(`${p.url()}: ${e.message}`));
  await p.goto(srv.url + '/');
  await p.getByLabel("Clé d'API").fill(admin);
  await p.getByRole('button', { name: 'Se connecter' }).click();
  await p.getByRole('heading', { name: 'Assistants', level: 1 }).waitFor();
  await p.goto(`${srv.url}/?assistant=transports#assistants`);
  const form = p.locator('form.assistant-form');
  const color = form.getByLabel('Couleur (#rrggbb)');
  await color.waitFor();
  assert.equal(await color.inputValue(), '#0b5394');
  assert.equal(await form.getByLabel('Position sur la page').inputValue(), 'bottom-left');
  assert.equal(await form.getByLabel('Titre du widget').inputValue(), 'Mairie de Test');
  assert.equal(await form.getByLabel('Texte du bouton').inputValue(), 'Une question ?');
  await form.getByText(/Contraste avec le texte blanc : 7,\d\d:1, lisible/).waitFor();
  await color.fill('#ffcc00');
  await form.getByText('Contraste avec le texte blanc : 1,51:1, trop faible (4,5:1 au moins).').waitFor();
  await p.getByRole('button', { name: 'Enregistrer le brouillon' }).click();
  const err = form.locator('[data-param="widget.color"] .field-error');
  await err.filter({ hasText: /trop claire/ }).waitFor();
  assert.match(await err.textContent(), /1\.51:1/);
  assert.equal(await color.getAttribute('aria-invalid'), 'true');
  await shot(p, 'console-widget-contrast-refused');
  await axeCheck(p, 'console, assistant form with the widget theme');
  // a readable colour saves; the draft keeps the whole theme
  await color.fill('#1a5e20');
  await p.getByRole('button', { name: 'Enregistrer le brouillon' }).click();
  await p.getByText(/Brouillon enregistré : version 2/).waitFor();
  const r = await api('GET', '/api/v1/assistants/transports');
  assert.deepEqual(r.body.widget, { color: '#1a5e20', position: 'bottom-left', title: 'Mairie de Test',
    launcher_label: 'Une question ?' });
  await p.close();
  assert.deepEqual(pageErrors, []);
});
