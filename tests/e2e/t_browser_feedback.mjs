// Feedback and the dashboard in Debian's Chromium through playwright-core,
// against the real server with the stories model (issue 15, item 7): an
// agent gives an answer a thumbs down with a comment on the chat page; an
// editor finds it in the console's dashboard with the personal data of the
// comment masked, and sees the charts of conversations and tokens per day
// (SVG with a text alternative and a table of their numbers); axe-core at 0
// serious or critical violations in French and in English.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, STORIES } from './lib/server.mjs';
import { launchChromium, axeCheck } from './lib/browser.mjs';

const SCREENS_COPY = '/tmp/lair-screens';
const STEP = 30000;

let srv, admin, editor, agent, tmp, shots, ctx, page;
const pageErrors = [];

async function api(method, path, body, key = admin) {
  const res = await fetch(srv.url + path, {
    method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

const shot = (name) => page.screenshot({ path: join(shots, `feedback-${name}.png`), fullPage: true });

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'lair-browser-fb-'));
  shots = join(tmp, 'screens');
  mkdirSync(shots);
  srv = await startServer(['--model', `stories=${STORIES}`, '--slots', '1', '--ctx', '512', '--threads', '1']);
  const r = await api('POST', '/api/v1/tenants', { admin_key: true, slug: 'ville-fb', name: 'Ville' }, srv.key);
  assert.equal(r.status, 201);
  admin = r.body.admin_key;
  for (const slug of ['conte', 'guichet']) {
    const a = await api('POST', '/api/v1/assistants', { slug, model: 'stories',
      params: { max_tokens: 8, temperature: 0 } });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    assert.equal((await api('POST', `/api/v1/assistants/${slug}/publish`, {})).status, 200);
  }
  editor = (await api('POST', '/api/v1/keys', { role: 'editor' })).body.key;
  agent = (await api('POST', '/api/v1/keys', { role: 'user' })).body.key;
  // some activity for the second assistant, so that the charts stack two
  const c = await api('POST', '/v1/chat/completions', { model: 'guichet', max_tokens: 4,
    messages: [{ role: 'user', content: 'The dog' }] }, agent);
  assert.equal(c.status, 200);
  ctx = await launchChromium({
    profile: join(tmp, 'profile'),
    viewport: { width: 1280, height: 900 },
    locale: 'fr-FR',
  });
  ctx.setDefaultTimeout(STEP);
  page = ctx.pages()[0] || await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
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

test('the chat page: a thumbs down with a comment on an answer', async () => {
  await page.goto(srv.url + '/chat');
  await page.getByLabel("Clé d'API").fill(agent);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.getByRole('button', { name: 'Nouvelle conversation' }).waitFor();
  const pick = page.locator('.chat-main select, select#assistant, select').first();
  if (await pick.count()) await pick.selectOption('conte').catch(() => {});
  await page.getByLabel('Votre message').fill('Once upon a time');
  await page.getByLabel('Votre message').press('Enter');
  const bot = page.locator('.chat-main .msg.bot').first();
  const down = bot.getByRole('button', { name: 'Réponse pas utile' });
  await down.waitFor();
  await down.click();
  await bot.getByText('Merci pour votre avis.').waitFor();
  assert.equal(await down.getAttribute('aria-pressed'), 'true');
  await bot.getByLabel('Un commentaire ? (facultatif)').fill('Hors sujet. Rappelez-moi au 06 12 34 56 78.');
  await axeCheck(page, 'chat page, feedback form open (fr)');
  await bot.getByRole('button', { name: 'Envoyer le commentaire' }).click();
  await bot.getByText('Commentaire envoyé, merci.').waitFor();
  await shot('chat');
  const list = await api('GET', '/api/v1/feedback', undefined, editor);
  assert.equal(list.body.data.length, 1);
  assert.equal(list.body.data[0].rating, 'down');
});

test('the console: the editor sees the thumbs down, masked, and the charts', async () => {
  await page.evaluate(() => sessionStorage.clear());
  await page.goto(srv.url + '/#dashboard');
  await page.getByLabel("Clé d'API").fill(editor);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.getByRole('link', { name: 'Tableau de bord' }).click();
  await page.getByRole('heading', { level: 1, name: 'Tableau de bord' }).waitFor();
  const row = page.locator('tr.fb-row.fb-down').first();
  await row.waitFor();
  const comment = await row.locator('.fb-comment').innerText();
  assert.match(comment, /Hors sujet/);
  assert.match(comment, /\[PHONE\]/);
  assert.doesNotMatch(comment, /06 12/);
  assert.match(await row.innerText(), /Pas utile/);
  assert.match(await row.innerText(), /conte/);
  // two charts, each an image with a name and a description, bars for
  // both assistants, and a table of their numbers
  const charts = page.locator('svg.chart[role="img"]');
  await charts.nth(1).waitFor(); // drawn once the dashboard's numbers arrive (after the list, or not)
  assert.equal(await charts.count(), 2);
  for (let i = 0; i < 2; i++) {
    const label = await charts.nth(i).evaluate((el) => el.getAttribute('aria-labelledby').split(' ')
      .map((x) => document.getElementById(x).textContent).join(' '));
    assert.match(label, /par jour/);
    const assistants = await charts.nth(i).evaluate((el) => [...new Set([...el.querySelectorAll('rect[data-assistant]')]
      .map((r) => r.getAttribute('data-assistant')))].sort());
    assert.deepEqual(assistants, ['conte', 'guichet']);
  }
  const tableText = await page.locator('figure.chart-card').first().locator('table').textContent();
  assert.match(tableText, /conte/);
  await axeCheck(page, 'dashboard (fr)');
  await shot('dashboard-fr');
  await page.locator('#top button.lang').click();
  await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
  await page.locator('tr.fb-row.fb-down').first().waitFor();
  assert.match(await page.locator('tr.fb-row.fb-down').first().innerText(), /Unhelpful/);
  await axeCheck(page, 'dashboard (en)');
  await shot('dashboard-en');
  assert.deepEqual(pageErrors, []);
});
