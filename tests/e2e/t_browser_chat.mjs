// The chat page as an agent uses it, in Debian's Chromium through
// playwright-core, against the real server with the stories model: the
// welcome text and starter questions on a new conversation; a conversation
// titled from its first question; copy and regenerate an answer; the
// message box at the bottom of the window; a language switch that keeps
// the typed message, the open rename editor and its text, and the key typed
// in the sign-in form; rename, search (another person's conversation never
// found) and delete; no "null" in the top bar; axe-core in both languages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, STORIES } from './lib/server.mjs';
import { launchChromium, axeCheck } from './lib/browser.mjs';

const SCREENS_COPY = '/tmp/lair-screens';
const STEP = 30000;
const VIEWPORT = { width: 1280, height: 800 };

let srv, admin, u1, u2, tmp, shots, ctx, page;
const pageErrors = [];

async function api(method, path, body, key = admin) {
  const res = await fetch(srv.url + path, {
    method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

const shot = (name) => page.screenshot({ path: join(shots, `chat-${name}.png`) });
const topText = () => page.locator('#top').innerText();

// The message box sits at the bottom of the window, whatever the length of
// the conversation.
async function composerAtBottom(label) {
  const box = await page.locator('.chat-main form.composer').boundingBox();
  assert.ok(box, `${label}: no message box`);
  const bottom = box.y + box.height;
  assert.ok(bottom <= VIEWPORT.height, `${label}: the message box ends below the window (${bottom})`);
  assert.ok(bottom >= VIEWPORT.height - 48, `${label}: the message box floats at ${bottom} in a ${VIEWPORT.height} px window`);
}

// Waits for the answer being streamed to end (its actions appear).
async function answered(n) {
  await page.locator('.chat-main .msg.bot').nth(n - 1).locator('.msg-actions button.copy').waitFor();
  await page.locator('.chat-main .msg.bot[aria-busy="true"]').waitFor({ state: 'detached' }).catch(() => {});
  await page.waitForFunction(() => !document.querySelector('.chat-main .msg.bot[aria-busy="true"]'));
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'lair-browser-chat-'));
  shots = join(tmp, 'screens');
  mkdirSync(shots);
  srv = await startServer(['--model', `stories=${STORIES}`, '--slots', '2', '--ctx', '512', '--threads', '1']);
  const r = await api('POST', '/api/v1/tenants', { admin_key: true, slug: 'ville-chat', name: 'Ville' }, srv.key);
  assert.equal(r.status, 201);
  admin = r.body.admin_key;
  const a = await api('POST', '/api/v1/assistants', { slug: 'conte', name: 'Conteur', model: 'stories',
    instructions: 'Tell a story.', params: { max_tokens: 12, temperature: 0 },
    welcome: 'Bonjour ! Je raconte des histoires.', starters: ['Once upon a time', 'The little dog'] });
  assert.equal(a.status, 201, JSON.stringify(a.body));
  assert.equal((await api('POST', '/api/v1/assistants/conte/publish', {})).status, 200);
  u1 = (await api('POST', '/api/v1/keys', { role: 'user' })).body.key;
  u2 = (await api('POST', '/api/v1/keys', { role: 'user' })).body.key;
  const other = await api('POST', '/v1/chat/completions', { model: 'conte', max_tokens: 4,
    messages: [{ role: 'user', content: 'Le chat de la voisine' }] }, u2);
  assert.equal(other.status, 200);
  ctx = await launchChromium({
    profile: join(tmp, 'profile'),
    viewport: VIEWPORT,
    locale: 'fr-FR',
  });
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: srv.url });
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

test('sign-in: no "null" in the top bar; the key typed survives a language switch', async () => {
  await page.goto(srv.url + '/chat');
  await page.getByLabel("Clé d'API").waitFor();
  assert.doesNotMatch(await topText(), /null|undefined/);
  await page.getByLabel("Clé d'API").fill(u1);
  await page.locator('#top button.lang').click();
  assert.equal(await page.getByLabel('API key').inputValue(), u1, 'the key typed is kept');
  assert.doesNotMatch(await topText(), /null|undefined/);
  await page.locator('#top button.lang').click();
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.getByRole('button', { name: 'Nouvelle conversation' }).waitFor();
  assert.doesNotMatch(await topText(), /null|undefined/);
  assert.match(await topText(), /ville-chat/);
});

test('new conversation: welcome and starters; a starter asks; titled from the question', async () => {
  const main = page.locator('.chat-main');
  await main.getByText('Bonjour ! Je raconte des histoires.').waitFor();
  const starters = main.locator('ul.starters button');
  assert.deepEqual(await starters.allInnerTexts(), ['Once upon a time', 'The little dog']);
  await composerAtBottom('empty conversation');
  await axeCheck(page, 'chat page, new conversation (fr)');
  await starters.first().click();
  await answered(1);
  assert.equal(await main.locator('.msg.user .body').first().innerText(), 'Once upon a time');
  const item = page.locator('ul.conversations li.conv-item').first();
  await item.locator('.conv-title', { hasText: 'Once upon a time' }).waitFor();
  const list = await api('GET', '/api/v1/conversations', undefined, u1);
  assert.equal(list.body.data.length, 1);
  assert.equal(list.body.data[0].title, 'Once upon a time');
  await composerAtBottom('after an answer');
});

test('copy puts the answer on the clipboard; regenerate replaces the last answer', async () => {
  const bot = page.locator('.chat-main .msg.bot').first();
  const answer = (await bot.locator('.body').innerText()).trim();
  assert.ok(answer.length > 0);
  const copy = bot.getByRole('button', { name: 'Copier la réponse' });
  await copy.click();
  await page.locator('.chat-main [aria-live="polite"]', { hasText: 'Réponse copiée.' }).waitFor({ state: 'attached' });
  const clip = (await page.evaluate(() => navigator.clipboard.readText())).trim();
  assert.equal(clip.replace(/\s+/g, ' '), answer.replace(/\s+/g, ' '));

  const conv = (await api('GET', '/api/v1/conversations', undefined, u1)).body.data[0];
  const taken = page.waitForResponse((r) => r.url().endsWith(`/api/v1/conversations/${conv.id}/last-exchange`)
    && r.request().method() === 'DELETE');
  const asked = page.waitForResponse((r) => r.url().endsWith('/v1/chat/completions'));
  await bot.getByRole('button', { name: /^Régénérer la réponse/ }).click();
  assert.equal((await taken).status(), 200);
  assert.equal((await asked).status(), 200);
  await answered(1);
  assert.equal(await page.locator('.chat-main .msg.bot').count(), 1, 'the answer is replaced, not added');
  await page.waitForFunction(async (id) => {
    const r = await fetch(`/api/v1/conversations/${id}`, { headers: { Authorization: `Bearer ${sessionStorage.getItem('lair.key')}` } });
    return (await r.json()).message_count === 2;
  }, conv.id);
  const full = (await api('GET', `/api/v1/conversations/${conv.id}`, undefined, u1)).body;
  assert.deepEqual(full.messages.map((m) => m.role), ['user', 'assistant']);
  assert.equal(full.messages[0].content, 'Once upon a time');
});

test('a language switch keeps the typed message and the open rename editor', async () => {
  const input = page.getByLabel('Votre message');
  await input.fill('Un brouillon pas encore envoyé');
  const item = page.locator('ul.conversations li.conv-item').first();
  await item.getByRole('button', { name: 'Renommer la conversation « Once upon a time »' }).click();
  const field = page.getByLabel('Nouveau titre');
  await field.fill('Mon histoire');
  await page.locator('#top button.lang').click();
  assert.equal(await page.getByLabel('Your message').inputValue(), 'Un brouillon pas encore envoyé');
  assert.equal(await page.getByLabel('New title').inputValue(), 'Mon histoire', 'the editor is still open with its text');
  await page.getByRole('button', { name: 'Copy the answer' }).waitFor();
  await axeCheck(page, 'chat page, rename editor (en)');
  await shot('rename-en');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('ul.conversations .conv-title', { hasText: 'Mon histoire' }).waitFor();
  assert.equal((await api('GET', '/api/v1/conversations', undefined, u1)).body.data[0].title, 'Mon histoire');
  await page.locator('#top button.lang').click();
  assert.equal(await page.getByLabel('Votre message').inputValue(), 'Un brouillon pas encore envoyé');
  await page.getByLabel('Votre message').fill('');
});

test('rename refuses a blank title next to the field', async () => {
  const item = page.locator('ul.conversations li.conv-item').first();
  await item.getByRole('button', { name: /^Renommer la conversation/ }).click();
  await page.getByLabel('Nouveau titre').fill('   ');
  await page.getByRole('button', { name: 'Enregistrer' }).click();
  await page.locator('.conv-rename .field-error', { hasText: 'de 1 à 200 octets' }).waitFor();
  assert.equal(await page.getByLabel('Nouveau titre').getAttribute('aria-invalid'), 'true');
  await page.getByLabel('Nouveau titre').press('Escape');
  await page.locator('.conv-rename').waitFor({ state: 'detached' });
});

test('search finds titles and messages of one\'s own conversations only', async () => {
  await page.getByRole('button', { name: 'Nouvelle conversation' }).click();
  await page.getByLabel('Votre message').fill('The little dog ran');
  await page.getByLabel('Votre message').press('Enter');
  await answered(1);
  await page.locator('ul.conversations li.conv-item').nth(1).waitFor();
  const search = page.getByLabel('Rechercher dans mes conversations');
  await search.fill('little dog');
  await page.locator('.conv-status', { hasText: '1 conversation' }).waitFor();
  assert.deepEqual(await page.locator('ul.conversations .conv-title').allInnerTexts(), ['The little dog ran']);
  await search.fill('histoire');
  await page.locator('ul.conversations .conv-title', { hasText: 'Mon histoire' }).waitFor();
  assert.equal(await page.locator('ul.conversations li.conv-item').count(), 1);
  await search.fill('voisine'); // another person's conversation
  await page.locator('.conv-status', { hasText: 'Aucune conversation ne contient « voisine »' }).waitFor();
  assert.equal(await page.locator('ul.conversations li.conv-item').count(), 0);
  await search.fill('');
  await page.waitForFunction(() => document.querySelectorAll('ul.conversations li.conv-item').length === 2);
  await axeCheck(page, 'chat page, two conversations (fr)');
});

test('delete asks, then removes the conversation', async () => {
  const before = (await api('GET', '/api/v1/conversations', undefined, u1)).body.data;
  const target = before.find((c) => c.title === 'The little dog ran');
  const item = page.locator(`ul.conversations li.conv-item[data-id="${target.id}"]`);
  await item.getByRole('button', { name: 'Supprimer la conversation « The little dog ran »' }).click();
  await page.locator('dialog.confirm').getByRole('button', { name: 'Annuler' }).click();
  assert.equal((await api('GET', `/api/v1/conversations/${target.id}`, undefined, u1)).status, 200);
  await item.getByRole('button', { name: /^Supprimer la conversation/ }).click();
  await page.locator('dialog.confirm').getByRole('button', { name: 'Confirmer' }).click();
  await item.waitFor({ state: 'detached' });
  await page.locator('.conv-status', { hasText: 'supprimée' }).waitFor();
  assert.equal((await api('GET', `/api/v1/conversations/${target.id}`, undefined, u1)).status, 404);
  assert.equal(await page.locator('ul.conversations li.conv-item').count(), 1);
  await shot('after-delete');
});

test('a long conversation scrolls inside; the message box stays at the bottom', async () => {
  await page.locator('ul.conversations button.conv').first().click();
  await page.locator('.chat-main .msg.bot').first().waitFor();
  await page.evaluate(() => {
    const list = document.querySelector('.chat-main .messages');
    for (let i = 0; i < 40; i++) {
      const p = document.createElement('p');
      p.className = 'msg user';
      p.textContent = `ligne ${i}`;
      list.append(p);
    }
  });
  await composerAtBottom('long conversation');
  const pageScroll = await page.evaluate(() => document.scrollingElement.scrollHeight - window.innerHeight);
  assert.ok(pageScroll <= 1, `the page itself scrolls by ${pageScroll} px`);
  await shot('long');
});

test('no page error', () => {
  assert.deepEqual(pageErrors, []);
});
