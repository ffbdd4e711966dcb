// Try before publishing (issue 15, item 1), in a real browser (Debian's
// Chromium driven by playwright-core, axe-core) against the real server and
// the stories model: an editor changes an assistant that citizens use; the
// console's test panel talks to the saved draft, not to the published
// version (the draft has a knowledge base the published version lacks: its
// answers carry sources, which the panel lists with their scores); it shows
// the draft's welcome text and starter questions as the widget will, and a
// starter asks its question; publishing first says which fields change
// compared with the published version. Also at the API level: the draft is
// reachable with "assistant_version": "draft" by editor keys only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, STORIES } from './lib/server.mjs';
import { launchChromium, axeCheck } from './lib/browser.mjs';

const STEP = 20000;

let srv, admin, editor, user, tmp, ctx, page;
const pageErrors = [];

async function api(method, path, body, key) {
  const res = await fetch(srv.url + path, {
    method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'lair-browser-draft-'));
  srv = await startServer(['--model', `stories=${STORIES}`, '--slots', '1', '--ctx', '1024', '--threads', '1']);
  const t = await api('POST', '/api/v1/tenants', { admin_key: true, slug: 'mairie', name: 'Mairie' }, srv.key);
  assert.equal(t.status, 201);
  admin = t.body.admin_key;
  editor = (await api('POST', '/api/v1/keys', { role: 'editor' }, admin)).body.key;
  user = (await api('POST', '/api/v1/keys', { role: 'user' }, admin)).body.key;
  // a knowledge base with one document
  assert.equal((await api('POST', '/api/v1/knowledge-bases', { slug: 'etat-civil' }, admin)).status, 201);
  const form = new FormData();
  form.append('file', new Blob(['Acte de naissance\n\nL\'acte de naissance se demande à la mairie du lieu de naissance, gratuitement.\n']), 'naissance.txt');
  form.append('file', new Blob(['Déchetterie\n\nLa déchetterie est ouverte le samedi matin aux habitants.\n']), 'dechets.txt');
  form.append('file', new Blob(['Cantine\n\nL\'inscription à la cantine scolaire se fait en ligne avant la rentrée.\n']), 'cantine.txt');
  const up = await fetch(`${srv.url}/api/v1/knowledge-bases/etat-civil/documents`,
    { method: 'POST', headers: { Authorization: `Bearer ${admin}` }, body: form });
  const upBody = await up.json();
  assert.ok(up.ok, JSON.stringify(upBody));
  let state;
  for (let i = 0; i < 200; i++) {
    const j = await api('GET', `/api/v1/jobs/${upBody.job_id}`, undefined, admin);
    state = j.body.state;
    if (state === 'done') break;
    assert.notEqual(state, 'failed', JSON.stringify(j.body));
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(state, 'done', 'ingestion');
  // v1, published: no knowledge base
  const base = { slug: 'accueil', name: 'Accueil', model: 'stories', instructions: 'Tu réponds aux habitants.' };
  assert.equal((await api('POST', '/api/v1/assistants', base, admin)).status, 201);
  assert.equal((await api('POST', '/api/v1/assistants/accueil/publish', {}, admin)).status, 200);
  // v2, the draft: a knowledge base, a welcome text and starters
  const v2 = await api('PUT', '/api/v1/assistants/accueil', { ...base, knowledge_bases: ['etat-civil'],
    welcome: 'Bonjour ! Posez vos questions sur l’état civil.',
    starters: ['Où demander un acte de naissance ?', 'Est-ce gratuit ?'] }, editor);
  assert.equal(v2.status, 200, JSON.stringify(v2.body));
  assert.equal(v2.body.version, 2);

  ctx = await launchChromium({
    profile: join(tmp, 'profile'),
    viewport: { width: 1280, height: 900 }, locale: 'fr-FR',
  });
  ctx.setDefaultTimeout(STEP);
  page = ctx.pages()[0] || await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

after(async () => {
  await ctx?.close();
  await srv?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const ask = (key, extra) => api('POST', '/v1/chat/completions', { model: 'accueil', max_tokens: 4, temperature: 0,
  messages: [{ role: 'user', content: 'Où demander un acte de naissance ?' }], ...extra }, key);

test('the API serves the draft to editors only, and the published version to everyone else', async () => {
  const pub = await ask(user);
  assert.equal(pub.status, 200, JSON.stringify(pub.body));
  assert.equal((pub.body.sources || []).length, 0, 'the published v1 has no knowledge base');
  const draft = await ask(editor, { assistant_version: 'draft' });
  assert.equal(draft.status, 200, JSON.stringify(draft.body));
  assert.ok((draft.body.sources || []).length >= 1, `the draft v2 answers from its knowledge base: ${JSON.stringify(draft.body)}`);
  const v1 = await ask(editor, { assistant_version: 1 });
  assert.equal((v1.body.sources || []).length, 0, 'version 1 by number');
  const denied = await ask(user, { assistant_version: 'draft' });
  assert.equal(denied.status, 403);
  assert.equal(denied.body.error.code, 'forbidden');
  for (const bad of ['brouillon', 0, -1, 1.5, true, [2]]) {
    const r = await ask(editor, { assistant_version: bad });
    assert.equal(r.status, 400, `assistant_version ${JSON.stringify(bad)}`);
    assert.equal(r.body.error.param, 'assistant_version');
  }
  const missing = await ask(editor, { assistant_version: 9 });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, 'version_not_found');
});

test('the test panel talks to the draft, shows its welcome text and starters, and the passages found', async () => {
  await page.goto(srv.url + '/');
  await page.getByLabel("Clé d'API").fill(editor);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.locator('h1').filter({ hasNotText: 'Connexion' }).waitFor();
  await page.goto(srv.url + '/#assistants');
  await page.getByRole('button', { name: 'Modifier accueil' }).click();
  const panel = page.locator('.test-chat');
  await panel.getByRole('heading', { name: 'Essai du brouillon (v2)' }).waitFor();
  await panel.getByText('les usagers voient toujours la version publiée (v1)').waitFor();
  await panel.getByText('Bonjour ! Posez vos questions sur l’état civil.').waitFor();
  const starters = panel.getByRole('group', { name: 'Questions de départ' }).getByRole('button');
  assert.deepEqual(await starters.allTextContents(), ['Où demander un acte de naissance ?', 'Est-ce gratuit ?']);
  await starters.first().click();
  const table = panel.getByRole('table', { name: 'Passages retrouvés pour la dernière réponse' });
  await table.waitFor();
  const row = table.locator('tbody tr').first();
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[0], '[1]');
  assert.equal(cells[1], 'naissance.txt');
  assert.match(cells[3], /^\d+\.\d{3}$/, 'a score');
  await axeCheck(page, 'editor with the test panel');
});

test('publishing says what changes compared with the published version', async () => {
  await page.getByRole('button', { name: 'Publier le brouillon', exact: true }).click();
  const dlg = page.getByRole('dialog');
  await dlg.waitFor();
  const text = await dlg.textContent();
  assert.match(text, /Par rapport à la version publiée \(v1\), changent : les bases de connaissances, le message d'accueil, les questions de départ\./);
  assert.doesNotMatch(text, /instructions|le modèle/);
  await dlg.getByRole('button', { name: 'Confirmer' }).click();
  await page.getByText('Version 2 publiée.').waitFor();
  for (let i = 0; i < 50; i++) {
    const a = await api('GET', '/api/v1/assistants/accueil', undefined, admin);
    if (a.body.published_version === 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const a = await api('GET', '/api/v1/assistants/accueil', undefined, admin);
  assert.equal(a.body.published_version, 2);
  const pub = await ask(user);
  assert.ok(pub.body.sources.length >= 1, 'citizens now get the new version');
  // nothing to publish again: the dialog says so; cancelling changes nothing
  await page.getByRole('button', { name: 'Publier le brouillon', exact: true }).click();
  await page.getByRole('dialog').getByText('Rien ne change par rapport à la version publiée (v2)').waitFor();
  await page.getByRole('dialog').getByRole('button', { name: 'Annuler' }).click();
  assert.deepEqual(pageErrors, []);
});
