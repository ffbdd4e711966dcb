// The console (/) for admin and editor keys: assistants (form, versions,
// test chat, widget snippet), knowledge bases (upload with progress), keys,
// members and access rules, audit log, GDPR and the tenant's settings. Each
// section is a hash route: #assistants, #kb, #dashboard (dashboard.js),
// #members, #keys, #audit, #gdpr, #settings. The operator key gets
// one page of its own, #models (models.js), and none of the tenants' pages.
import { h, t, clear, id, api, bytes, fmtTime, fmtSize, confirmDialog, getKey, ApiError, statusLine,
  errorBox, errText, providers } from './lib.js';
import { startShell } from './shell.js';
import { Fields } from './forms.js';
import { ChatView } from './chatview.js';
import { viewModels } from './models.js';
import { viewSettings } from './settings.js';
import { viewDashboard } from './dashboard.js';
import { viewEvals } from './evals.js';

const isAdmin = (me) => me.role === 'admin';
const isOperator = (me) => me.role === 'operator';

function sections(me) {
  if (isOperator(me)) return [['models', t('nav.models')]];
  const s = [['assistants', t('nav.assistants')], ['kb', t('nav.kb')], ['dashboard', t('nav.dashboard')],
    ['evals', t('nav.evals')]];
  if (isAdmin(me)) {
    s.push(['members', t('nav.members')], ['keys', t('nav.keys')], ['audit', t('nav.audit')],
      ['gdpr', t('nav.gdpr')]);
  }
  s.push(['settings', t('nav.settings')]);
  return s;
}

function current(me) {
  const want = location.hash.slice(1);
  return sections(me).some(([k]) => k === want) ? want : sections(me)[0][0];
}

function nav(me) {
  const cur = current(me);
  const links = sections(me).map(([k, label]) => ({ href: `#${k}`, label, current: k === cur }));
  return isOperator(me) ? links : [...links, { href: '/chat', label: t('nav.chat') }];
}

// A run token: a view drawn again (another section, the language) stops the
// background work (job polling, the models page's refresh) of the one
// before; so does signing out, which takes the view out of the page.
let run = 0;

// The assistant editor open when the page is drawn again (a language
// switch): its values, saved or not, come back in the new language.
let editorState = null; // () => {slug, values, dirty} of the open editor
let restoreEditor = null;

function render(me, main) {
  run += 1;
  restoreEditor = editorState ? editorState() : null;
  editorState = null;
  clear(main);
  const views = { assistants: viewAssistants, kb: viewKb, members: viewMembers, keys: viewKeys, audit: viewAudit,
    gdpr: viewGdpr,
    settings: viewSettings, models: viewModels, dashboard: viewDashboard, evals: viewEvals };
  const token = run;
  // alive(el): this view is still the one shown, and el still in the page
  views[current(me)](me, main, token, (el) => token === run && el.isConnected);
}

function table(headers, rows, caption) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    caption ? h('caption', { class: 'sr-only', text: caption }) : null,
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col', text: x })))),
    h('tbody', {}, rows)));
}

function lines(text) {
  return text.split('\n').map((s) => s.trim()).filter(Boolean);
}

function select(options, value) {
  const s = h('select', {}, options.map(([v, label]) => h('option', { value: v, text: label })));
  s.value = value;
  return s;
}

// ---------------------------------------------------------------- assistants

const SLUG_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
// "Accueil de la mairie" -> "accueil-de-la-mairie"
const slugFrom = (name) => name.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
  .replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
const ORIGIN_RE = /^https?:\/\/[^/\s*?#@]+$/i;

async function viewAssistants(me, main, token) {
  const listBox = h('div', {});
  const editor = h('div', { class: 'editor' });
  main.append(h('h1', { text: t('as.title') }), h('div', { class: 'toolbar' },
    h('button', { type: 'button', class: 'primary', text: t('as.new'), onclick: () => openEditor(null) }),
    h('button', { type: 'button', class: 'secondary', text: t('as.gen.button'), onclick: () => openGenerator() }),
    h('button', { type: 'button', class: 'secondary', text: t('as.tpl.button'), onclick: () => openTemplates() })),
  listBox, editor);

  let kbs = null;
  let models = [];
  try {
    kbs = (await api('GET', '/api/v1/knowledge-bases')).data;
  } catch {
    kbs = null; // knowledge bases not available on this server
  }
  try { // the chat models this organisation's assistants may use
    models = (await api('GET', '/api/v1/assistant-models')).data.map((m) => m.id);
  } catch {
    models = [];
  }

  const drawList = async () => {
    clear(listBox);
    let r;
    try {
      r = await api('GET', '/api/v1/assistants');
    } catch (e) {
      listBox.append(errorBox(e));
      return;
    }
    if (!r.data.length) {
      listBox.append(h('p', { class: 'hint', text: t('app.none') }));
      return;
    }
    listBox.append(table([t('as.slug'), t('as.name'), t('as.draft'), t('as.published'), ''],
      r.data.map((a) => h('tr', {},
        h('td', {}, h('code', { text: a.slug })), h('td', { text: a.name }),
        h('td', { text: `v${a.version}` }),
        h('td', { text: a.published_version ? `v${a.published_version}` : t('as.notpublished') }),
        h('td', {}, h('button', { type: 'button', class: 'secondary', text: t('as.edit'),
          'aria-label': `${t('as.edit')} ${a.slug}`, onclick: () => openEditor(a.slug) })))),
      t('as.title')));
  };

  const openEditor = async (slug, back = null) => {
    clear(editor);
    let spec = null;
    if (slug) {
      try {
        spec = await api('GET', `/api/v1/assistants/${encodeURIComponent(slug)}`);
      } catch (e) {
        editor.append(errorBox(e));
        return;
      }
    }
    drawEditor(me, editor, spec, { kbs, models, onChange: drawList, reopen: openEditor }, back);
    if (!back) editor.querySelector('h2')?.focus(); // after a language switch the focus stays on its button
  };

  // A proposed draft (generated from documents, or from a template) fills
  // the form unsaved; its evaluation suite is applied on the first save.
  const openDraft = (values, suite, note) => {
    clear(editor);
    drawEditor(me, editor, null, { kbs, models, onChange: drawList, reopen: openEditor, suite },
      { values, dirty: true });
    editor.prepend(h('p', { class: 'hint generated-note', role: 'status', text: note }));
    editor.querySelector('h2')?.focus();
  };
  // "Nouvel assistant depuis mes documents": choose bases, then generate.
  const openGenerator = () => {
    clear(editor);
    const boxes = (kbs || []).map((k) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', value: k.slug }), ` ${k.name || k.slug} (${k.slug})`));
    const status = h('p', { class: 'status', role: 'status' });
    const go = h('button', { type: 'button', class: 'primary', text: t('as.gen.go'), onclick: async () => {
      const chosen = boxes.map((l) => l.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
      if (!chosen.length) { status.textContent = t('as.gen.choose'); return; }
      status.textContent = t('as.gen.working');
      try {
        const r = await api('POST', '/api/v1/assistants/generate', { knowledge_bases: chosen });
        openDraft(r.assistant, r.suite, t('as.gen.note', { n: r.suite.cases.length }));
      } catch (e) {
        status.textContent = '';
        status.append(errorBox(e));
      }
    } });
    editor.append(h('section', { class: 'generator', 'aria-labelledby': 'gen-h' },
      h('h2', { id: 'gen-h', tabindex: '-1', text: t('as.gen.title') }),
      h('p', { class: 'hint', text: t('as.gen.hint') }),
      kbs && kbs.length ? h('fieldset', {}, h('legend', { text: t('as.gen.bases') }), ...boxes)
        : h('p', { class: 'hint', text: t('as.gen.nokb') }),
      h('div', { class: 'toolbar' }, go), status));
    editor.querySelector('h2')?.focus();
  };
  // "Depuis un modèle": the shared templates; choosing one fills the form.
  const openTemplates = async () => {
    clear(editor);
    const sec = h('section', { class: 'templates', 'aria-labelledby': 'tpl-h' },
      h('h2', { id: 'tpl-h', tabindex: '-1', text: t('as.tpl.title') }));
    editor.append(sec);
    sec.querySelector('h2').focus();
    let r;
    try {
      r = await api('GET', '/api/v1/templates');
    } catch (e) {
      sec.append(errorBox(e));
      return;
    }
    sec.append(table([t('as.name'), t('as.tpl.description'), ''], r.data.map((tp) => h('tr', {},
      h('td', { text: tp.title }), h('td', { text: tp.description }),
      h('td', {}, h('button', { type: 'button', class: 'secondary', text: t('as.tpl.use'),
        'aria-label': `${t('as.tpl.use')} ${tp.title}`, onclick: async () => {
          try {
            const full = await api('GET', `/api/v1/templates/${encodeURIComponent(tp.name)}`);
            const a = full.assistant;
            openDraft({ ...a, name: a.name || full.title, slug: slugFrom(a.name || full.title), model: models[0] },
              full.suite, t('as.tpl.note', { title: full.title }));
          } catch (e) {
            sec.append(errorBox(e));
          }
        } })))), t('as.tpl.title')));
  };

  await drawList();
  // an editor that was open before the language switch
  const back = restoreEditor;
  restoreEditor = null;
  if (back && token === run) await openEditor(back.slug, back);
  if (token !== run) return;
  const hashSlug = new URLSearchParams(location.search).get('assistant');
  if (hashSlug) openEditor(hashSlug);
}

// The WCAG 2 contrast ratio of white text on a "#rgb"/"#rrggbb" colour, as
// the server computes it (src/assist/assistant.c); null when not a colour.
function contrastWhite(hex) {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(String(hex).trim());
  if (!m) return null;
  const x = m[1].length === 3 ? m[1].replace(/./g, '$&$&') : m[1];
  const [r, g, b] = [0, 2, 4].map((i) => {
    const c = parseInt(x.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05);
}

// values: what the form held before being drawn again (unsaved edits),
// else the stored spec.
function assistantForm(spec, { kbs, models }, values = null) {
  const s = values || spec || {};
  const general = statusLine();
  const f = new Fields(general);
  const num = (v, step) => h('input', { type: 'text', inputmode: step === 1 ? 'numeric' : 'decimal',
    value: v ?? '' });
  const inp = {
    slug: h('input', { type: 'text', value: s.slug || '', autocomplete: 'off', spellcheck: 'false',
      disabled: Boolean(spec), required: true }),
    name: h('input', { type: 'text', value: s.name || '' }),
    // chosen among the models the organisation may use; a model no longer
    // allowed stays shown, marked, until another is chosen
    model: select([...models.map((m) => [m, m]),
      ...(s.model && !models.includes(s.model) ? [[s.model, t('as.f.model.gone', { m: s.model })]] : [])],
    s.model || models[0] || ''),
    instructions: h('textarea', { rows: 6, value: s.instructions || '' }),
    temperature: num(s.params?.temperature),
    top_p: num(s.params?.top_p),
    max_tokens: num(s.params?.max_tokens, 1),
    top_k: num(s.retrieval?.top_k ?? 5, 1),
    min_score: num(s.retrieval?.min_score ?? 0),
    citations: select([['required', t('as.f.citations.required')], ['optional', t('as.f.citations.optional')],
      ['off', t('as.f.citations.off')]], s.citations || 'optional'),
    refusal: h('textarea', { rows: 2, value: s.guardrails?.refusal || '' }),
    // a new assistant masks personal data unless told otherwise
    pii: select([['keep', t('as.f.pii.keep')], ['mask', t('as.f.pii.mask')],
      ['pseudonymise', t('as.f.pii.pseudonymise')]], s.guardrails?.pii || (spec ? 'keep' : 'mask')),
    remote: select([['masked', t('as.f.remote.masked')], ['forbidden', t('as.f.remote.forbidden')]],
      s.guardrails?.remote || 'masked'),
    welcome: h('textarea', { rows: 2, value: s.welcome || '' }),
    starters: h('textarea', { rows: 3, value: (s.starters || []).join('\n') }),
    visibility: select([['internal', t('as.f.visibility.internal')], ['public', t('as.f.visibility.public')]],
      s.visibility || 'internal'),
    origins: h('textarea', { rows: 2, value: (s.allowed_origins || []).join('\n'), spellcheck: 'false' }),
    retention: num(s.retention_days ?? 0, 1),
    wcolor: h('input', { type: 'text', value: s.widget?.color || '#1d3f8f', maxlength: 7, spellcheck: 'false',
      autocomplete: 'off' }),
    wposition: select([['bottom-right', t('as.f.wposition.right')], ['bottom-left', t('as.f.wposition.left')]],
      s.widget?.position || 'bottom-right'),
    wtitle: h('input', { type: 'text', value: s.widget?.title || '', placeholder: s.name || '' }),
    wlabel: h('input', { type: 'text', value: s.widget?.launcher_label || '', maxlength: 60 }),
  };
  const kbBoxes = (kbs || []).map((k) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', value: k.slug, checked: (s.knowledge_bases || []).includes(k.slug) }),
    ` ${k.name || k.slug} (${k.slug})`));
  // a new assistant: the identifier follows the name until typed by hand;
  // citations become required as soon as a knowledge base is chosen
  if (!spec) {
    let slugTyped = false;
    inp.slug.addEventListener('input', () => { slugTyped = true; });
    inp.name.addEventListener('input', () => {
      if (!slugTyped) inp.slug.value = slugFrom(inp.name.value);
    });
    let citationsTouched = false;
    inp.citations.addEventListener('change', () => { citationsTouched = true; });
    for (const l of kbBoxes) {
      l.querySelector('input').addEventListener('change', () => {
        if (citationsTouched) return;
        const any = kbBoxes.some((x) => x.querySelector('input').checked);
        inp.citations.value = any ? 'required' : 'optional';
      });
    }
  }
  const originsField = f.field('allowed_origins', t('as.f.origins'), inp.origins);
  // The widget's theme (docs/assistants.md): the colour's contrast with the
  // widget's white text is shown as it is typed; the server refuses one
  // under 4.5:1 (insufficient_contrast), which shows next to the field.
  const swatch = h('span', { class: 'swatch', 'aria-hidden': 'true' });
  const ratioEl = h('span', { class: 'contrast', 'aria-live': 'polite' });
  const syncColor = () => {
    const r = contrastWhite(inp.wcolor.value);
    swatch.style.background = r ? inp.wcolor.value.trim() : 'transparent';
    ratioEl.textContent = r ? t(r >= 4.5 ? 'as.f.wcolor.ok' : 'as.f.wcolor.low',
      { r: (Math.floor(r * 100) / 100).toLocaleString(document.documentElement.lang || 'fr') }) : '';
  };
  inp.wcolor.addEventListener('input', syncColor);
  syncColor();
  const widgetFields = h('fieldset', { class: 'widget-theme' }, h('legend', { text: t('as.f.widget') }),
    h('div', { class: 'grid2' },
      f.field('widget.color', t('as.f.wcolor'), inp.wcolor, t('as.f.wcolor.help')),
      f.field('widget.position', t('as.f.wposition'), inp.wposition)),
    h('p', { class: 'hint' }, swatch, ' ', ratioEl),
    h('div', { class: 'grid2' },
      f.field('widget.title', t('as.f.wtitle'), inp.wtitle, t('as.f.wtitle.help')),
      f.field('widget.launcher_label', t('as.f.wlabel'), inp.wlabel, t('as.f.wlabel.help'))));
  const syncOrigins = () => {
    originsField.hidden = inp.visibility.value !== 'public';
    widgetFields.hidden = originsField.hidden;
  };
  inp.visibility.addEventListener('change', syncOrigins);
  syncOrigins();

  const form = h('form', { class: 'assistant-form', novalidate: true },
    h('div', { class: 'grid2' },
      f.field('slug', t('as.f.slug'), inp.slug, t('as.f.slug.help')),
      f.field('name', t('as.f.name'), inp.name)),
    f.field('model', t('as.f.model'), inp.model, models.length ? t('as.f.model.help') : t('as.f.model.none')),
    f.field('instructions', t('as.f.instructions'), inp.instructions, t('as.f.instructions.help')),
    kbs ? f.group('knowledge_bases', t('as.f.kb'), kbBoxes.length ? kbBoxes
      : h('p', { class: 'hint', text: t('as.f.kb.none') })) : null,
    f.field('citations', t('as.f.citations'), inp.citations, t('as.f.citations.help')),
    // what an engineer tunes, folded away from the editor's first view
    h('details', { class: 'advanced' }, h('summary', { text: t('as.f.advanced') }),
      h('fieldset', {}, h('legend', { text: t('as.f.params') }), h('div', { class: 'grid3' },
        f.field('params.temperature', t('as.f.temperature'), inp.temperature, t('as.f.temperature.help')),
        f.field('params.top_p', t('as.f.top_p'), inp.top_p, t('as.f.top_p.help')),
        f.field('params.max_tokens', t('as.f.max_tokens'), inp.max_tokens, t('as.f.max_tokens.help')))),
      h('fieldset', {}, h('legend', { text: t('as.f.retrieval') }), h('div', { class: 'grid2' },
        f.field('retrieval.top_k', t('as.f.top_k'), inp.top_k, t('as.f.top_k.help')),
        f.field('retrieval.min_score', t('as.f.min_score'), inp.min_score, t('as.f.min_score.help'))))),
    h('fieldset', {}, h('legend', { text: t('as.f.guardrails') }),
      f.field('guardrails.refusal', t('as.f.refusal'), inp.refusal),
      f.field('guardrails.pii', t('as.f.pii'), inp.pii),
      f.field('guardrails.remote', t('as.f.remote'), inp.remote, t('as.f.remote.help'))),
    f.field('welcome', t('as.f.welcome'), inp.welcome),
    f.field('starters', t('as.f.starters'), inp.starters),
    h('div', { class: 'grid2' },
      f.field('visibility', t('as.f.visibility'), inp.visibility),
      f.field('retention_days', t('as.f.retention'), inp.retention)),
    originsField,
    widgetFields,
    general);

  // Browser-side checks, the same rules as the server's (docs/assistants.md).
  const check = () => {
    const errs = {};
    const numIn = (param, el, min, max, int) => {
      const v = el.value.trim();
      if (v === '') return undefined;
      const n = Number(v.replace(',', '.'));
      if (!Number.isFinite(n) || n < min || (max !== null && n > max) || (int && !Number.isInteger(n))) {
        errs[param] = max === null ? t('v.min', { min }) : t(int ? 'v.int' : 'v.range', { min, max });
        return undefined;
      }
      return n;
    };
    const out = {};
    const slug = inp.slug.value.trim();
    if (!slug) errs.slug = t('v.required');
    else if (!SLUG_RE.test(slug)) errs.slug = t('v.slug');
    out.slug = slug;
    if (bytes(inp.name.value) > 200) errs.name = t('v.bytes', { max: 200 });
    if (inp.name.value.trim()) out.name = inp.name.value.trim();
    if (!inp.model.value) errs.model = t('v.required');
    out.model = inp.model.value;
    if (bytes(inp.instructions.value) > 65536) errs.instructions = t('v.bytes', { max: 65536 });
    out.instructions = inp.instructions.value;
    out.params = {};
    const temp = numIn('params.temperature', inp.temperature, 0, 2, false);
    const topP = numIn('params.top_p', inp.top_p, 0, 1, false);
    const maxT = numIn('params.max_tokens', inp.max_tokens, 1, 32768, true);
    if (temp !== undefined) out.params.temperature = temp;
    if (topP !== undefined) out.params.top_p = topP;
    if (maxT !== undefined) out.params.max_tokens = maxT;
    if (kbs) out.knowledge_bases = kbBoxes.map((l) => l.querySelector('input')).filter((c) => c.checked).map((c) => c.value);
    out.retrieval = {};
    const topK = numIn('retrieval.top_k', inp.top_k, 1, 50, true);
    const minS = numIn('retrieval.min_score', inp.min_score, 0, 50, false);
    if (topK !== undefined) out.retrieval.top_k = topK;
    if (minS !== undefined) out.retrieval.min_score = minS;
    out.citations = inp.citations.value;
    if (bytes(inp.refusal.value) > 2000) errs['guardrails.refusal'] = t('v.bytes', { max: 2000 });
    out.guardrails = { refusal: inp.refusal.value, pii: inp.pii.value, remote: inp.remote.value };
    if (bytes(inp.welcome.value) > 2000) errs.welcome = t('v.bytes', { max: 2000 });
    out.welcome = inp.welcome.value;
    const starters = lines(inp.starters.value);
    if (starters.length > 8 || starters.some((x) => bytes(x) > 300)) errs.starters = t('v.starters');
    out.starters = starters;
    out.visibility = inp.visibility.value;
    const origins = lines(inp.origins.value);
    if (out.visibility === 'public') {
      if (origins.length > 32 || origins.some((o) => !ORIGIN_RE.test(o))) errs.allowed_origins = t('v.origins');
      out.allowed_origins = origins;
    } else {
      out.allowed_origins = [];
    }
    const ret = numIn('retention_days', inp.retention, 0, 3650, true);
    out.retention_days = ret ?? 0;
    const wcolor = inp.wcolor.value.trim();
    if (!/^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(wcolor)) errs['widget.color'] = t('v.color');
    if (bytes(inp.wtitle.value) > 200) errs['widget.title'] = t('v.bytes', { max: 200 });
    if (bytes(inp.wlabel.value) > 60) errs['widget.launcher_label'] = t('v.bytes', { max: 60 });
    out.widget = { color: wcolor, position: inp.wposition.value, title: inp.wtitle.value.trim(),
      launcher_label: inp.wlabel.value.trim() };
    // what the form does not edit is kept as it was (the publish gate, set by file or API)
    if (s.publish_gate) out.publish_gate = s.publish_gate;
    return { out, errs };
  };

  let dirty = false;
  form.addEventListener('input', () => { dirty = true; });
  form.addEventListener('change', () => { dirty = true; });
  return { form, fields: f, check, isDirty: () => dirty, clean: () => { dirty = false; }, touch: () => { dirty = true; } };
}

function drawEditor(me, box, spec, ctx, back = null) {
  let cur = spec;
  const isNew = !spec;
  const ui = assistantForm(spec, ctx, back?.values);
  if (back?.dirty) ui.touch();
  editorState = () => ({ slug: cur?.slug || null, values: ui.check().out, dirty: ui.isDirty() });
  const titleId = id('ed');
  const statusEl = h('p', { class: 'badges' });
  const drawStatus = () => {
    statusEl.textContent = cur ? t('as.status', { draft: `v${cur.version}`,
      published: cur.published_version ? `v${cur.published_version}` : t('as.notpublished') }) : '';
  };
  drawStatus();

  const save = async () => {
    ui.fields.clear();
    const { out, errs } = ui.check();
    if (ui.fields.show(errs)) {
      ui.fields.say(t('as.fix'), 'error');
      return null;
    }
    try {
      if (!cur) {
        cur = await api('POST', '/api/v1/assistants', out);
        if (ctx.suite) { // a generated or template draft: its suite comes with the first save
          await api('PUT', `/api/v1/assistants/${encodeURIComponent(cur.slug)}/eval-suites/${encodeURIComponent(ctx.suite.name)}`, ctx.suite);
          ctx.suite = null;
        }
      } else {
        out.version = cur.version; // refused (409) when someone saved meanwhile
        cur = await api('PUT', `/api/v1/assistants/${encodeURIComponent(cur.slug)}`, out);
      }
    } catch (e) {
      if (e.status === 409 && e.code === 'version_conflict') {
        ui.fields.say(t('as.conflict'), 'error');
        ui.fields.general.append(' ', h('button', { type: 'button', class: 'secondary', text: t('as.reload'),
          onclick: () => ctx.reopen(cur.slug) }));
      } else {
        ui.fields.showApiError(e);
      }
      return null;
    }
    ui.clean();
    ctx.onChange();
    return cur;
  };

  const saveBtn = h('button', { type: 'button', class: 'primary', text: t('as.save'), onclick: async () => {
    const wasNew = !cur;
    const r = await save();
    if (r) {
      if (wasNew) ctx.reopen(r.slug).then(() => say(t('as.saved', { v: r.version })));
      else {
        drawStatus();
        ui.fields.say(t('as.saved', { v: r.version }));
        drawVersions();
      }
    }
  } });
  const publishBtn = h('button', { type: 'button', class: 'secondary', text: t('as.publish'), onclick: async () => {
    if (!cur || ui.isDirty()) {
      if (!(await save())) return;
    }
    await publish(null);
  } });
  const deleteBtn = isNew ? null : h('button', { type: 'button', class: 'danger', text: t('app.delete'),
    onclick: async () => {
      if (!(await confirmDialog(t('as.confirmdelete', { slug: cur.slug })))) return;
      try {
        await api('DELETE', `/api/v1/assistants/${encodeURIComponent(cur.slug)}`);
        editorState = null;
        clear(box).append(h('p', { class: 'status', role: 'status', text: t('as.deleted') }));
        ctx.onChange();
      } catch (e) {
        ui.fields.showApiError(e);
      }
    } });
  const say = (text) => {
    const g = box.querySelector('.assistant-form .status');
    if (g) { g.textContent = text; g.dataset.kind = 'info'; }
  };

  const publish = async (version) => {
    try {
      const changed = await changesSincePublished(version);
      if (changed) {
        const text = changed.length
          ? t('as.diff.confirm', { v: cur.published_version, list: changed.join(', ') })
          : t('as.diff.none', { v: cur.published_version });
        if (!(await confirmDialog(text))) return;
      }
      const r = await api('POST', `/api/v1/assistants/${encodeURIComponent(cur.slug)}/publish`,
        version ? { version } : {});
      cur.published_version = r.published_version;
      drawStatus();
      ui.fields.say(t('as.publishedok', { v: r.published_version }));
      drawVersions();
      drawWidget();
      drawTest();
      ctx.onChange();
    } catch (e) {
      ui.fields.showApiError(e);
    }
  };

  const versionsBox = h('div', { class: 'versions' });
  const drawVersions = async () => {
    clear(versionsBox);
    if (!cur) return;
    let r;
    try {
      r = await api('GET', `/api/v1/assistants/${encodeURIComponent(cur.slug)}/versions`);
    } catch (e) {
      versionsBox.append(errorBox(e));
      return;
    }
    versionsBox.append(h('h3', { text: t('as.versions') }), table(
      [t('as.v.version'), t('as.name'), t('as.v.date'), t('as.v.author'), t('as.v.state'), t('as.v.actions')],
      r.data.slice().reverse().map((v) => h('tr', {},
        h('td', { text: `v${v.version}` }), h('td', { text: v.name }), h('td', { text: fmtTime(v.created_at) }),
        h('td', {}, h('code', { text: v.author })),
        h('td', { text: [v.draft ? t('as.draft') : '', v.published ? t('as.published') : ''].filter(Boolean).join(' · ') }),
        h('td', { class: 'actions' },
          v.draft ? null : h('button', { type: 'button', class: 'secondary', text: t('as.restore'),
            'aria-label': `${t('as.restore')} v${v.version}`, onclick: async () => {
              try {
                const d = await api('POST', `/api/v1/assistants/${encodeURIComponent(cur.slug)}/versions/${v.version}/restore`, {});
                await ctx.reopen(cur.slug);
                say(t('as.restored', { from: v.version, v: d.version }));
                ctx.onChange();
              } catch (e) {
                ui.fields.showApiError(e);
              }
            } }),
          v.published ? null : h('button', { type: 'button', class: 'secondary', text: t('as.publishv'),
            'aria-label': `${t('as.publishv')} v${v.version}`, onclick: () => publish(v.version) })))),
      t('as.versions')));
  };

  const widgetBox = h('div', { class: 'widget-snippet' });
  const drawWidget = () => {
    clear(widgetBox);
    if (!cur || !cur.published_version || cur.visibility !== 'public') return;
    const snippet = `<script src="${location.origin}/widget.js" data-assistant="${me.tenant}.${cur.slug}" async></script>`;
    const pre = h('pre', { tabindex: 0 }, h('code', { text: snippet }));
    const copy = h('button', { type: 'button', class: 'secondary', text: t('app.copy'), onclick: async () => {
      try {
        await navigator.clipboard.writeText(snippet);
        copy.textContent = t('app.copied');
      } catch {
        getSelection().selectAllChildren(pre);
      }
    } });
    widgetBox.append(h('h3', { text: t('as.widget') }), h('p', { text: t('as.widget.help') }), pre, copy);
  };

  // The test panel talks to the saved draft (assistant_version "draft"),
  // shows its welcome text and starters as the widget will, and the
  // passages retrieved for each answer with their scores.
  const testBox = h('div', { class: 'test-chat' });
  const drawTest = () => {
    clear(testBox);
    if (!cur) {
      testBox.append(h('h3', { text: t('as.test.title') }), h('p', { class: 'hint', text: t('as.test.unsaved') }));
      return;
    }
    const slug = cur.slug;
    testBox.append(h('h3', { text: t('as.test.draft', { v: cur.version }) }),
      h('p', { class: 'hint', text: cur.published_version === cur.version ? t('as.test.same')
        : t('as.test.help', { p: cur.published_version ? `v${cur.published_version}` : t('as.notpublished') }) }));
    const passages = h('div', { class: 'retrieved', 'aria-live': 'polite' });
    const showPassages = (list) => {
      clear(passages);
      if (!list.length) {
        passages.append(h('p', { class: 'hint', text: t('as.test.nosource') }));
        return;
      }
      passages.append(table([t('as.test.n'), t('as.test.doc'), t('as.test.page'), t('as.test.score')],
        list.map((x) => h('tr', {}, h('td', { text: `[${x.index}]` }), h('td', { text: x.document }),
          h('td', { text: x.page ?? '' }), h('td', { text: Number(x.score).toFixed(3) }))), t('as.test.retrieved')));
    };
    const chat = new ChatView({ model: () => slug, compact: true, label: t('as.test.title'),
      extra: () => ({ assistant_version: 'draft' }), onSources: showPassages,
      onDone: () => { if (!passages.firstChild) showPassages([]); } });
    const intro = h('div', { class: 'test-intro' });
    if (cur.welcome) intro.append(h('p', { class: 'welcome', text: cur.welcome }));
    if ((cur.starters || []).length) {
      intro.append(h('div', { class: 'starters', role: 'group', 'aria-label': t('as.test.starters') },
        cur.starters.map((q) => h('button', { type: 'button', class: 'secondary starter', text: q, onclick: () => {
          if (chat.busy) return;
          clear(passages);
          chat.send(q);
        } }))));
    }
    chat.form.addEventListener('submit', () => clear(passages), true);
    testBox.append(intro, chat.root, passages);
  };

  // What publishing changes for the people using the assistant: the fields
  // of the version about to be published that differ from the published one.
  const FIELDS = ['name', 'model', 'instructions', 'params', 'knowledge_bases', 'retrieval', 'citations',
    'guardrails', 'welcome', 'starters', 'visibility', 'allowed_origins', 'retention_days', 'widget'];
  const changesSincePublished = async (version) => {
    if (!cur.published_version) return null;
    const q = (v) => api('GET', `/api/v1/assistants/${encodeURIComponent(cur.slug)}?version=${v}`);
    const [next, live] = await Promise.all([q(version || cur.version), q(cur.published_version)]);
    const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
    return FIELDS.filter((k) => !same(next[k], live[k])).map((k) => t(`as.diff.${k}`));
  };

  box.append(h('section', { class: 'card', 'aria-labelledby': titleId },
    h('h2', { id: titleId, tabindex: -1, text: isNew ? t('as.form.new') : t('as.form.edit', { slug: cur.slug }) }),
    statusEl,
    h('div', { class: 'editor-grid' },
      h('div', {}, ui.form, h('div', { class: 'toolbar' }, saveBtn, publishBtn, deleteBtn), widgetBox, versionsBox),
      testBox)));
  drawVersions();
  drawWidget();
  drawTest();
}

// ---------------------------------------------------------------- knowledge bases

async function viewKb(me, main, token) {
  const listBox = h('div', {});
  const docsBox = h('div', {});
  const general = statusLine();
  const f = new Fields(general);
  const slugIn = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const nameIn = h('input', { type: 'text' });
  const createForm = h('form', { class: 'card inline-form', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    f.clear();
    const slug = slugIn.value.trim();
    if (!SLUG_RE.test(slug)) {
      f.show({ slug: slug ? t('v.slug') : t('v.required') });
      return;
    }
    if (bytes(nameIn.value) > 200) {
      f.show({ name: t('v.bytes', { max: 200 }) });
      return;
    }
    try {
      await api('POST', '/api/v1/knowledge-bases', nameIn.value.trim() ? { slug, name: nameIn.value.trim() } : { slug });
      slugIn.value = '';
      nameIn.value = '';
      await drawList();
      openKb(slug);
    } catch (ex) {
      f.showApiError(ex);
    }
  } },
  h('h2', { text: t('kb.new') }),
  h('div', { class: 'grid2' }, f.field('slug', t('as.f.slug'), slugIn, t('as.f.slug.help')),
    f.field('name', t('as.f.name'), nameIn)),
  h('button', { type: 'submit', class: 'primary', text: t('kb.create') }), general);

  main.append(h('h1', { text: t('kb.title') }), listBox, createForm, docsBox);

  const drawList = async () => {
    clear(listBox);
    let r;
    try {
      r = await api('GET', '/api/v1/knowledge-bases');
    } catch (e) {
      listBox.append(errorBox(e));
      createForm.hidden = true;
      return;
    }
    if (!r.data.length) {
      listBox.append(h('p', { class: 'hint', text: t('app.none') }));
      return;
    }
    listBox.append(table([t('as.slug'), t('as.name'), t('kb.documents'), t('kb.chunks'), ''],
      r.data.map((k) => h('tr', {}, h('td', {}, h('code', { text: k.slug })), h('td', { text: k.name }),
        h('td', { text: k.documents }), h('td', { text: k.chunks }),
        h('td', { class: 'actions' },
          h('button', { type: 'button', class: 'secondary', text: t('kb.open'), 'aria-label': `${t('kb.open')} ${k.slug}`,
            onclick: () => openKb(k.slug) }),
          h('button', { type: 'button', class: 'danger', text: t('app.delete'), 'aria-label': `${t('app.delete')} ${k.slug}`,
            onclick: async () => {
              if (!(await confirmDialog(t('kb.confirmdelete', { slug: k.slug })))) return;
              const path = `/api/v1/knowledge-bases/${encodeURIComponent(k.slug)}`;
              try {
                try {
                  await api('DELETE', path);
                } catch (e) {
                  // published assistants answer from it: say which, delete only if asked again
                  if (!(e instanceof ApiError && e.code === 'in_use' && e.assistants)) throw e;
                  if (!(await confirmDialog(t('kb.inuse', { slug: k.slug, list: e.assistants.join(', ') })))) return;
                  await api('DELETE', `${path}?force=true`);
                }
                clear(docsBox);
                drawList();
              } catch (e) {
                listBox.append(errorBox(e));
              }
            } })))), t('kb.title')));
  };

  const openKb = (slug) => {
    clear(docsBox);
    drawKb(slug, docsBox, token, drawList);
  };
  await drawList();
}

// The search tester: what an assistant would find for a question, and for
// each passage the question's words it holds and how they matched
// (POST …/search with explain, docs/knowledge-bases.md).
function searchTester(slug) {
  const titleId = id('kbsearch');
  const q = h('input', { type: 'search', id: id('kbq'), required: true, maxlength: 2000 });
  const out = h('div', { 'aria-live': 'polite' });
  const how = (m) => (m.as === 'exact' ? t('kb.s.as1', { term: m.term, as: t(`kb.s.${m.as}`) })
    : t('kb.s.as2', { term: m.term, matched: m.matched, as: t(`kb.s.${m.as}`) }));
  const show = (results) => {
    clear(out);
    if (!results.length) return out.append(h('p', { class: 'hint', text: t('kb.s.none') }));
    out.append(h('ol', { class: 'search-results' }, results.map((r) => h('li', {},
      h('p', {}, h('strong', { text: r.document }), r.page ? ` — ${t('kb.s.page', { page: r.page })}` : '',
        ` — ${t('kb.s.score', { score: r.score.toFixed(2) })}`),
      h('p', { class: 'excerpt', text: r.text.length > 300 ? `${r.text.slice(0, 300)}…` : r.text }),
      h('ul', { class: 'matches', 'aria-label': t('kb.s.matches') },
        (r.matches || []).map((m) => h('li', { class: 'match', 'data-as': m.as, text: how(m) })))))));
  };
  const form = h('form', { class: 'search-tester', onsubmit: async (e) => {
    e.preventDefault();
    clear(out);
    try {
      const r = await api('POST', `/api/v1/knowledge-bases/${encodeURIComponent(slug)}/search`,
        { query: q.value.trim(), explain: true });
      show(r.results);
    } catch (err) {
      out.append(errorBox(err));
    }
  } },
  h('label', { for: q.id, text: t('kb.s.query') }), q,
  h('button', { type: 'submit', class: 'primary', text: t('kb.s.go') }));
  return h('section', { class: 'card', 'aria-labelledby': titleId },
    h('h3', { id: titleId, text: t('kb.s.title') }), form, out);
}

// The base's vocabulary of equivalences (issue 18, item 4; GET/PUT/DELETE
// …/synonyms, docs/knowledge-bases.md): one group per line, its expressions
// separated by "=". A question that uses one expression of a group also
// finds the passages that use another, where the base lacks the question's.
function vocabularyEditor(slug) {
  const titleId = id('kbvoc');
  const path = `/api/v1/knowledge-bases/${encodeURIComponent(slug)}/synonyms`;
  const area = h('textarea', { id: id('kbv'), rows: 8, spellcheck: 'false',
    'aria-describedby': `${titleId}-help` });
  const state = h('p', { class: 'hint' });
  const out = statusLine();
  const errs = h('div', {});
  const reset = h('button', { type: 'button', class: 'secondary', text: t('kb.v.reset') });
  let lines = []; // the textarea's line of each group sent, for the errors
  const show = (v) => {
    area.value = v.synonyms.map((g) => g.join(' = ')).join('\n');
    state.textContent = v.default ? t('kb.v.default', { n: v.synonyms.length })
      : t('kb.v.own', { n: v.synonyms.length, date: fmtTime(v.updated_at) });
    reset.hidden = v.default;
  };
  const failed = (e) => {
    const m = /^synonyms\[(\d+)\]/.exec(e?.param || '');
    errs.append(h('p', { class: 'error', role: 'alert',
      text: m && lines[Number(m[1])] ? t('kb.v.line', { line: lines[Number(m[1])], msg: errText(e) }) : errText(e) }));
  };
  reset.onclick = async () => {
    clear(errs);
    if (!(await confirmDialog(t('kb.v.confirmreset')))) return;
    try {
      show(await api('DELETE', path));
      out.textContent = t('kb.v.wasreset');
    } catch (e) {
      failed(e);
    }
  };
  const form = h('form', { onsubmit: async (ev) => {
    ev.preventDefault();
    clear(errs);
    out.textContent = '';
    const groups = [];
    lines = [];
    area.value.split('\n').forEach((l, i) => {
      const g = l.split('=').map((x) => x.trim()).filter(Boolean);
      if (!g.length) return;
      groups.push(g);
      lines.push(i + 1);
    });
    try {
      const v = await api('PUT', path, { synonyms: groups });
      show(v);
      out.textContent = t('kb.v.saved', { n: v.synonyms.length });
    } catch (e) {
      failed(e);
    }
  } },
  h('label', { for: area.id, text: t('kb.v.label') }), area,
  h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: t('kb.v.save') }), reset));
  const section = h('section', { class: 'card vocab', 'aria-labelledby': titleId },
    h('h3', { id: titleId, text: t('kb.v.title') }),
    h('p', { id: `${titleId}-help`, class: 'hint', text: t('kb.v.help') }), state, form, out, errs);
  api('GET', path).then(show, (e) => { form.hidden = true; failed(e); });
  return section;
}

function drawKb(slug, box, token, onChange) {
  const titleId = id('kb');
  const docs = h('div', {});
  const progress = h('progress', { max: 100, value: 0, hidden: true, 'aria-label': t('kb.progress') });
  const progressText = h('p', { class: 'status', role: 'status' });
  const files = h('ul', { class: 'files' });
  // the file input is hidden; a real button opens it, for keyboards
  const fileIn = h('input', { type: 'file', multiple: true, hidden: true, class: 'file-input',
    onchange: () => { if (fileIn.files.length) upload([...fileIn.files]); fileIn.value = ''; } });
  const drop = h('div', { class: 'dropzone' },
    h('p', { text: t('kb.drop') }),
    fileIn,
    h('button', { type: 'button', class: 'secondary', text: t('kb.choose'), onclick: () => fileIn.click() }));
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const list = [...(e.dataTransfer?.files || [])];
    if (list.length) upload(list);
  });

  const drawDocs = async () => {
    clear(docs);
    let r;
    try {
      r = await api('GET', `/api/v1/knowledge-bases/${encodeURIComponent(slug)}/documents`);
    } catch (e) {
      docs.append(errorBox(e));
      return;
    }
    if (!r.data.length) {
      docs.append(h('p', { class: 'hint', text: t('app.none') }));
      return;
    }
    docs.append(table([t('kb.d.name'), t('kb.d.format'), t('kb.d.size'), t('kb.d.pages'), t('kb.chunks'), t('kb.d.date'), ''],
      r.data.map((d) => h('tr', {}, h('td', { text: d.name }), h('td', { text: d.format }),
        h('td', { text: fmtSize(d.size) }), h('td', { text: d.pages ?? '—' }), h('td', { text: d.chunks }),
        h('td', { text: fmtTime(d.created_at) }),
        h('td', {}, h('button', { type: 'button', class: 'danger', text: t('app.delete'),
          'aria-label': `${t('app.delete')} ${d.name}`, onclick: async () => {
            if (!(await confirmDialog(t('kb.doc.confirmdelete', { name: d.name })))) return;
            try {
              await api('DELETE', `/api/v1/knowledge-bases/${encodeURIComponent(slug)}/documents/${d.id}`);
              drawDocs();
              onChange();
            } catch (e) {
              docs.append(errorBox(e));
            }
          } })))), t('kb.documents')));
  };

  const showFiles = (list) => {
    clear(files);
    for (const x of list) {
      files.append(h('li', { 'data-state': x.state },
        h('span', { class: 'name', text: x.name }), ' — ',
        h('span', { class: 'state', text: t(`kb.state.${x.state}`) }),
        x.error ? h('span', { class: 'file-error', text: ` : ${x.error}` }) : null));
    }
  };

  // Sends the files (bytes progress), then follows the job (files indexed).
  const upload = (list) => {
    const fd = new FormData();
    for (const file of list) fd.append('file', file, file.name);
    progress.hidden = false;
    progress.value = 0;
    showFiles(list.map((x) => ({ name: x.name, state: 'pending' })));
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/v1/knowledge-bases/${encodeURIComponent(slug)}/documents`);
    xhr.setRequestHeader('Authorization', `Bearer ${getKey()}`);
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.round((e.loaded / e.total) * 100);
      progress.value = pct / 2;
      progressText.textContent = t('kb.upload', { pct });
    };
    xhr.onerror = () => {
      progressText.textContent = t('app.network');
      progressText.dataset.kind = 'error';
    };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { body = null; }
      if (xhr.status !== 202) {
        const e = new ApiError(xhr.status, body);
        progressText.textContent = errText(e);
        progressText.dataset.kind = 'error';
        return;
      }
      follow(body.job_id);
    };
    progressText.dataset.kind = 'info';
    xhr.send(fd);
  };

  const follow = async (jobId) => {
    for (;;) {
      if (token !== run || !box.isConnected) return;
      let job;
      try {
        job = await api('GET', `/api/v1/jobs/${jobId}`);
      } catch (e) {
        progressText.textContent = errText(e);
        progressText.dataset.kind = 'error';
        return;
      }
      const total = job.total || 1;
      progress.value = 50 + (50 * job.done) / total;
      showFiles(job.files || []);
      if (job.state === 'done' || job.state === 'failed') {
        progress.value = 100;
        const failed = (job.files || []).filter((x) => x.state === 'failed').length;
        progressText.textContent = job.state === 'failed' ? t('kb.failed')
          : t(failed ? 'kb.finishedfail' : 'kb.finished', { done: job.done, total: job.total, failed });
        progressText.dataset.kind = failed || job.state === 'failed' ? 'error' : 'ok';
        drawDocs();
        onChange();
        return;
      }
      progressText.textContent = t('kb.processing', { done: job.done, total: job.total });
      await new Promise((r) => setTimeout(r, 400));
    }
  };

  box.append(h('section', { class: 'card', 'aria-labelledby': titleId },
    h('h2', { id: titleId, tabindex: -1, text: t('kb.docs.title', { slug }) }),
    drop, progress, progressText, files, docs, searchTester(slug), vocabularyEditor(slug)));
  box.querySelector('h2').focus();
  drawDocs();
}

// ---------------------------------------------------------------- members

// Who may enter the organisation: people named by their email (invited),
// and access rules that let in, with a role, everyone whose identity
// provider vouches for a SIRET, an email domain or a group. Below, what the
// service's operator (or an enrollment link) did in the organisation, from
// its audit log.
const ROLES = ['user', 'editor', 'admin'];
const roleOptions = () => ROLES.map((r) => [r, t(`role.${r}`)]);
const RULE_KINDS = ['siret', 'domain', 'group'];
const EMAIL_RE = /^[^\s@"<>,]+@[a-z0-9-]+(\.[a-z0-9-]+)+$/;
const DOMAIN_RE = /^(?=.{3,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const OPS_PAGES = 20; // audit pages of 1000 events read for the operator's actions

// A SIRET as INSEE writes it: 14 digits whose Luhn sum is a multiple of 10
// (La Poste's establishments, SIREN 356000000, follow another rule).
function siretValid(v) {
  if (!/^\d{14}$/.test(v)) return false;
  if (v.startsWith('356000000')) return true;
  let sum = 0;
  for (let i = 0; i < 14; i++) {
    let d = Number(v[i]);
    if (i % 2 === 0) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

const roleName = (r) => (ROLES.includes(r) ? t(`role.${r}`) : r);

async function viewMembers(me, main, token, alive) {
  const idps = await providers();
  if (!alive(main)) return;
  main.append(h('h1', { text: t('mem.title') }), h('p', { class: 'hint intro', text: t('mem.intro') }));
  const general = statusLine();
  const f = new Fields(general);
  const email = h('input', { type: 'text', inputmode: 'email', autocomplete: 'off', spellcheck: 'false' });
  const role = select(roleOptions(), 'user');
  const inviteH = id('mem-invite');
  main.append(h('form', { class: 'card', novalidate: true, 'aria-labelledby': inviteH, onsubmit: async (e) => {
    e.preventDefault();
    f.clear();
    const v = email.value.trim().toLowerCase();
    if (!EMAIL_RE.test(v) || bytes(v) > 254) {
      f.show({ email: t('mem.v.email') });
      return;
    }
    try {
      const m = await api('POST', '/api/v1/members', { email: v, role: role.value });
      email.value = '';
      f.say(t('mem.invited', { email: m.email, role: roleName(m.role) }));
      await drawList();
    } catch (ex) {
      f.showApiError(ex);
    }
  } },
  h('h2', { id: inviteH, text: t('mem.invite') }),
  h('p', { class: 'hint', text: t('mem.invite.hint') }),
  h('div', { class: 'grid2' }, f.field('email', t('mem.email'), email), f.field('role', t('mem.role'), role)),
  h('button', { type: 'submit', class: 'primary', text: t('mem.invite.submit') }), general));

  // ---- the members
  const listH = id('mem-list');
  const listBox = h('div', {});
  const listStatus = statusLine();
  const listErr = h('p', { class: 'field-error', role: 'alert' });
  main.append(h('section', { 'aria-labelledby': listH }, h('h2', { id: listH, text: t('mem.list') }),
    listStatus, listErr, listBox));
  const done = (text) => {
    listErr.textContent = '';
    listStatus.textContent = text;
  };
  const failed = (e) => {
    listStatus.textContent = '';
    listErr.textContent = errText(e);
  };
  // A change to oneself (a person signed in) may end what the page can do.
  const self = (m) => me.session && m.id === me.id;
  const memberRow = (m) => {
    const who = m.email || m.name || m.id;
    const sel = select(roleOptions(), m.role);
    sel.setAttribute('aria-label', t('mem.roleof', { who }));
    const save = h('button', { type: 'button', class: 'secondary', text: t('mem.saverole'),
      'aria-label': t('mem.saveroleof', { who }), onclick: async () => {
        if (sel.value === m.role) {
          done(t('mem.samerole', { who, role: roleName(m.role) }));
          return;
        }
        try {
          const r = await api('PATCH', `/api/v1/members/${encodeURIComponent(m.id)}`, { role: sel.value });
          if (self(m)) location.reload();
          done(t('mem.rolechanged', { who, role: roleName(r.role) }));
          await drawList();
          listBox.querySelector(`select[data-member="${m.id}"]`)?.focus();
        } catch (e) {
          sel.value = m.role;
          failed(e);
        }
      } });
    sel.dataset.member = m.id;
    const remove = h('button', { type: 'button', class: 'danger', text: t('mem.remove'),
      'aria-label': t('mem.removeof', { who }), onclick: async () => {
        if (!(await confirmDialog(t(self(m) ? 'mem.confirmremoveself' : 'mem.confirmremove', { who })))) return;
        try {
          await api('DELETE', `/api/v1/members/${encodeURIComponent(m.id)}`);
          if (self(m)) location.reload();
          done(t('mem.removed', { who }));
          await drawList();
        } catch (e) {
          failed(e);
        }
      } });
    const src = `mem.src.${m.source}`;
    return h('tr', {},
      h('td', { text: m.name || '—' }), h('td', { text: m.email || '—' }), h('td', {}, sel),
      h('td', { text: m.last_login ? fmtTime(m.last_login) : t('mem.never') }),
      h('td', { text: t(src) === src ? m.source : t(src) }),
      h('td', { class: 'actions' }, save, remove));
  };
  const drawList = async () => {
    let r;
    try {
      r = await api('GET', '/api/v1/members');
    } catch (e) {
      clear(listBox).append(errorBox(e));
      return;
    }
    if (!alive(listBox)) return;
    clear(listBox);
    if (!r.data.length) {
      listBox.append(h('p', { class: 'hint', text: t('mem.none') }));
      return;
    }
    listBox.append(table([t('mem.name'), t('mem.email'), t('mem.role'), t('mem.lastlogin'), t('mem.source'),
      t('mem.actions')], r.data.map(memberRow), t('mem.list')));
  };

  // ---- the access rules
  const rulesH = id('rules');
  const rulesBox = h('div', {});
  const rulesGeneral = statusLine();
  let rf = new Fields(rulesGeneral);
  let rules = [];
  const kindSelect = (i) => rulesBox.querySelector(`[data-param="rules[${i}].kind"] select`);
  const drawRules = () => {
    clear(rulesBox);
    rf = new Fields(rulesGeneral);
    if (!rules.length) rulesBox.append(h('p', { class: 'hint', text: t('rules.none') }));
    rules.forEach((r, i) => {
      const kind = select(RULE_KINDS.map((k) => [k, t(`rules.kind.${k}`)]), r.kind);
      kind.addEventListener('change', () => {
        r.kind = kind.value;
        drawRules(); // the value's help follows the kind
        kindSelect(i)?.focus();
      });
      const value = h('input', { type: 'text', spellcheck: 'false', autocomplete: 'off', value: r.value,
        oninput: () => { r.value = value.value; } });
      const rrole = select(roleOptions(), r.role);
      rrole.addEventListener('change', () => { r.role = rrole.value; });
      const opts = [['', t('rules.anyprovider')], ...idps.map((p) => [p.id, p.name || p.id])];
      if (r.provider && !idps.some((p) => p.id === r.provider)) opts.push([r.provider, r.provider]);
      const prov = select(opts, r.provider || '');
      prov.addEventListener('change', () => { r.provider = prov.value || null; });
      rulesBox.append(h('fieldset', { class: 'rule' }, h('legend', { text: t('rules.rule', { n: i + 1 }) }),
        h('div', { class: 'grid2' },
          rf.field(`rules[${i}].kind`, t('rules.kind'), kind),
          rf.field(`rules[${i}].value`, t(`rules.value.${r.kind}`), value, t(`rules.help.${r.kind}`)),
          rf.field(`rules[${i}].role`, t('rules.role'), rrole),
          rf.field(`rules[${i}].provider`, t('rules.provider'), prov)),
        h('button', { type: 'button', class: 'danger', text: t('rules.remove'),
          'aria-label': t('rules.removeof', { n: i + 1 }), onclick: () => {
            rules.splice(i, 1);
            drawRules();
            rf.say(t('rules.unsaved'));
            (kindSelect(Math.min(i, rules.length - 1)) || addBtn).focus();
          } })));
    });
  };
  const addBtn = h('button', { type: 'button', class: 'secondary', text: t('rules.add'), onclick: () => {
    rules.push({ kind: 'siret', value: '', role: 'user', provider: null });
    drawRules();
    kindSelect(rules.length - 1)?.focus();
  } });
  const saveRules = async (e) => {
    e.preventDefault();
    rf.clear();
    const errs = {};
    const body = rules.map((r, i) => {
      let v = r.value.trim();
      if (r.kind === 'siret') v = v.replace(/[\s.]/g, '');
      if (r.kind === 'domain') v = v.toLowerCase().replace(/^@/, '');
      const bad = { siret: !siretValid(v), domain: !DOMAIN_RE.test(v), group: !v || bytes(v) > 200 }[r.kind];
      if (bad) errs[`rules[${i}].value`] = t(`rules.v.${r.kind}`);
      return r.provider ? { kind: r.kind, value: v, role: r.role, provider: r.provider }
        : { kind: r.kind, value: v, role: r.role };
    });
    if (rf.show(errs)) return;
    try {
      const res = await api('PUT', '/api/v1/access', { rules: body });
      rules = res.rules.map((x) => ({ ...x }));
      drawRules();
      rf.say(t('rules.saved', { n: rules.length }));
    } catch (ex) {
      rf.showApiError(ex);
    }
  };
  const rulesForm = h('form', { class: 'card rules', novalidate: true, 'aria-labelledby': rulesH, onsubmit: saveRules },
    h('h2', { id: rulesH, text: t('rules.title') }),
    h('p', { class: 'hint', text: t('rules.intro') }),
    rulesBox,
    h('div', { class: 'toolbar' }, addBtn, h('button', { type: 'submit', class: 'primary', text: t('rules.save') })),
    rulesGeneral);
  main.append(rulesForm);

  // ---- what the operator did here
  const opsH = id('ops');
  const opsBox = h('div', {});
  main.append(h('section', { class: 'card', 'aria-labelledby': opsH },
    h('h2', { id: opsH, text: t('ops.title') }), h('p', { class: 'hint', text: t('ops.intro') }), opsBox));
  const drawOps = async () => {
    const found = [];
    let after = 0;
    let pages = 0;
    let more = true;
    try {
      while (more && pages < OPS_PAGES) {
        const r = await api('GET', `/api/v1/audit?limit=1000${after ? `&after=${after}` : ''}`);
        for (const ev of r.data) {
          after = ev.seq;
          // the command line on the server ("cli") is the operator's too
          if (/^(operator|enrollment):/.test(ev.actor) || ev.actor === 'cli') found.push(ev);
        }
        more = r.has_more;
        pages += 1;
        if (!alive(opsBox)) return;
      }
    } catch (e) {
      clear(opsBox).append(errorBox(e));
      return;
    }
    clear(opsBox);
    if (!found.length) opsBox.append(h('p', { class: 'hint', text: t('ops.none') }));
    else {
      opsBox.append(table([t('audit.time'), t('ops.who'), t('audit.action'), t('audit.target'), t('audit.outcome'),
        t('audit.detail')], found.reverse().map((ev) => h('tr', {},
        h('td', { text: ev.time }),
        h('td', {}, t(ev.actor.startsWith('enrollment:') ? 'ops.enrollment' : 'ops.operator'), ' ',
          h('code', { text: ev.actor.replace(/^[a-z]+:/, '') })),
        h('td', {}, h('code', { text: ev.action })), h('td', { text: ev.target }),
        h('td', { text: ev.outcome }), h('td', { text: ev.detail }))), t('ops.title')));
    }
    if (more) opsBox.append(h('p', { class: 'hint', text: t('ops.partial', { n: pages * 1000 }) }));
  };

  const loadRules = async () => {
    try {
      rules = (await api('GET', '/api/v1/access')).rules.map((x) => ({ ...x }));
    } catch (e) { // nothing to edit: saving would replace rules never seen
      rulesForm.replaceWith(h('section', { class: 'card', 'aria-labelledby': rulesH },
        h('h2', { id: rulesH, text: t('rules.title') }), errorBox(e)));
      return;
    }
    if (alive(rulesBox)) drawRules();
  };
  await Promise.all([drawList(), loadRules(), drawOps()]);
}

// ---------------------------------------------------------------- keys

async function viewKeys(me, main) {
  const listBox = h('div', {});
  const general = statusLine();
  const f = new Fields(general);
  const secretBox = h('div', { class: 'secret', hidden: true, role: 'status' });
  const inp = {
    role: select([['user', 'user'], ['editor', 'editor'], ['admin', 'admin']], 'user'),
    name: h('input', { type: 'text' }),
    assistants: h('input', { type: 'text', spellcheck: 'false' }),
    expires: h('input', { type: 'text', spellcheck: 'false' }),
    rpm: h('input', { type: 'text', inputmode: 'numeric', value: '0' }),
    tpd: h('input', { type: 'text', inputmode: 'numeric', value: '0' }),
  };
  const form = h('form', { class: 'card', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    f.clear();
    secretBox.hidden = true;
    const errs = {};
    const body = { role: inp.role.value };
    if (inp.name.value.trim()) body.name = inp.name.value.trim();
    if (bytes(inp.name.value) > 100) errs.name = t('v.bytes', { max: 100 });
    const as = inp.assistants.value.split(',').map((s) => s.trim()).filter(Boolean);
    if (as.some((s) => !SLUG_RE.test(s))) errs.assistants = t('v.slug');
    if (as.length) body.assistants = as;
    const exp = inp.expires.value.trim();
    if (exp && !/^\d+[smhd]?$/.test(exp)) errs.expires_in = t('v.duration');
    if (exp) body.expires_in = exp;
    const lim = {};
    for (const [k, el] of [['rpm', inp.rpm], ['tokens_per_day', inp.tpd]]) {
      const v = el.value.trim() || '0';
      if (!/^\d{1,12}$/.test(v)) errs[`limits.${k}`] = t('v.int', { min: 0, max: 999999999999 });
      else if (Number(v) > 0) lim[k] = Number(v);
    }
    if (Object.keys(lim).length) body.limits = lim;
    if (f.show(errs)) return;
    try {
      const r = await api('POST', '/api/v1/keys', body);
      clear(secretBox).append(h('p', { text: t('keys.secret') }),
        h('pre', { tabindex: 0 }, h('code', { class: 'key-secret', text: r.key })));
      secretBox.hidden = false;
      drawList();
    } catch (ex) {
      f.showApiError(ex);
    }
  } },
  h('h2', { text: t('keys.new') }),
  h('div', { class: 'grid3' },
    f.field('role', t('keys.role'), inp.role), f.field('name', t('keys.name'), inp.name),
    f.field('expires_in', t('keys.expires'), inp.expires)),
  f.field('assistants', t('keys.assistants'), inp.assistants),
  h('div', { class: 'grid2' }, f.field('limits.rpm', t('keys.rpm'), inp.rpm),
    f.field('limits.tokens_per_day', t('keys.tpd'), inp.tpd)),
  h('button', { type: 'submit', class: 'primary', text: t('keys.create') }), general, secretBox);

  main.append(h('h1', { text: t('keys.title') }), form, listBox);

  const drawList = async () => {
    clear(listBox);
    let r;
    try {
      r = await api('GET', '/api/v1/keys');
    } catch (e) {
      listBox.append(errorBox(e));
      return;
    }
    listBox.append(table([t('keys.id'), t('keys.name'), t('keys.role'), t('nav.assistants'), t('keys.created'),
      t('keys.expiresat'), t('keys.lastused'), t('as.v.state'), ''],
    r.data.map((k) => h('tr', { class: k.revoked ? 'revoked' : null },
      h('td', {}, h('code', { text: k.id })), h('td', { text: k.name || '' }), h('td', { text: k.role }),
      h('td', { text: (k.assistants || []).join(', ') }), h('td', { text: fmtTime(k.created_at) }),
      h('td', { text: k.expires_at ? fmtTime(k.expires_at) : t('keys.never') }),
      h('td', { text: fmtTime(k.last_used_at) }),
      h('td', { text: k.revoked ? t('keys.revoked') : t('keys.active') }),
      h('td', {}, k.revoked || k.id === me.id ? null : h('button', { type: 'button', class: 'danger',
        text: t('keys.revoke'), 'aria-label': `${t('keys.revoke')} ${k.id}`, onclick: async () => {
          if (!(await confirmDialog(t('keys.confirmrevoke', { id: k.id })))) return;
          try {
            await api('DELETE', `/api/v1/keys/${encodeURIComponent(k.id)}`);
            drawList();
          } catch (e) {
            listBox.append(errorBox(e));
          }
        } })))), t('keys.title')));
  };
  drawList();
}

// ---------------------------------------------------------------- audit

async function viewAudit(me, main) {
  const verifyBox = h('div', { class: 'verify', role: 'status' });
  const rows = h('tbody', {});
  const more = h('button', { type: 'button', class: 'secondary', text: t('app.more'), hidden: true });
  let after = 0;
  const verify = async () => {
    clear(verifyBox);
    try {
      const v = await api('GET', '/api/v1/audit/verify');
      verifyBox.dataset.kind = v.ok ? 'ok' : 'error';
      verifyBox.append(v.ok
        ? t('audit.ok', { n: v.events, seq: v.head?.seq ?? 0, hash: (v.head?.hash || '').slice(0, 16) })
        : t('audit.broken', { seq: v.broken_at, reason: v.reason, msg: v.message || '' }));
    } catch (e) {
      verifyBox.dataset.kind = 'error';
      verifyBox.append(errText(e));
    }
  };
  const page = async () => {
    try {
      const r = await api('GET', `/api/v1/audit?limit=100${after ? `&after=${after}` : ''}`);
      for (const ev of r.data) {
        rows.append(h('tr', {}, h('td', { text: ev.seq }), h('td', { text: ev.time }),
          h('td', {}, h('code', { text: ev.actor })), h('td', { text: ev.action }), h('td', { text: ev.target }),
          h('td', { text: ev.outcome }), h('td', { text: ev.detail })));
        after = ev.seq;
      }
      more.hidden = !r.has_more;
    } catch (e) {
      main.append(errorBox(e));
    }
  };
  more.addEventListener('click', page);
  main.append(h('h1', { text: t('audit.title') }),
    h('div', { class: 'toolbar' }, verifyBox, h('button', { type: 'button', class: 'secondary', text: t('audit.verify'), onclick: verify })),
    h('div', { class: 'table-wrap' }, h('table', {}, h('caption', { class: 'sr-only', text: t('audit.title') }),
      h('thead', {}, h('tr', {}, [t('audit.seq'), t('audit.time'), t('audit.actor'), t('audit.action'), t('audit.target'),
        t('audit.outcome'), t('audit.detail')].map((x) => h('th', { scope: 'col', text: x })))), rows)),
    more);
  await verify();
  await page();
}

// ---------------------------------------------------------------- GDPR

// A person's request (access, erasure) as the DPO handles it: find the
// subject from what the person can quote (the widget's conversation
// reference, a conversation id, or the application's "user" id), read their
// data as a page, download it (JSON, HTML), erase it; and the processing
// register as a readable, printable page with its downloads.
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// The export as a standalone HTML page the person can keep (a download: it
// never runs in the console's origin). Every value is escaped.
function exportHtml(x) {
  const conv = (c) => `<section><h2>${esc(c.title || c.assistant)} — ${esc(fmtTime(c.created_at))}</h2>
<p class="meta">${esc(t('gdpr.x.conversation'))} ${esc(c.id)} · ${esc(c.assistant)}</p>
${(c.messages || []).map((m) => `<div class="msg ${esc(m.role)}"><p class="who">${esc(m.role === 'user' ? t('gdpr.x.person') : t('gdpr.x.assistant'))} · ${esc(fmtTime(m.created_at))}</p><p>${esc(m.content).replace(/\n/g, '<br>')}</p></div>`).join('\n')}
</section>`;
  return `<!doctype html><html lang="${esc(document.documentElement.lang || 'fr')}"><head><meta charset="utf-8">
<title>${esc(t('gdpr.x.title'))}</title><style>
body{font:15px/1.5 system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
.meta,.who{color:#555;font-size:.9em;margin:.2rem 0}.msg{border-left:3px solid #ccd;padding:.2rem .8rem;margin:.6rem 0}
.msg.user{border-color:#3558a8}section{border-top:1px solid #ddd;margin-top:1.5rem}</style></head><body>
<h1>${esc(t('gdpr.x.title'))}</h1>
<p>${esc(t('gdpr.x.intro', { tenant: x.tenant, when: x.generated_at }))}</p>
<p>${esc(t('gdpr.x.counts', { c: x.usage?.conversations ?? 0, m: x.usage?.messages ?? 0 }))}</p>
${(x.conversations || []).map(conv).join('\n')}
</body></html>`;
}

function registerView(r) {
  const box = h('div', { class: 'register-view' });
  box.append(h('h3', { text: t('gdpr.r.controller', { name: r.controller?.name || '', tenant: r.controller?.tenant || '' }) }),
    h('p', { text: t('gdpr.r.dpo', { dpo: r.controller?.dpo || '' }) }),
    h('p', { class: 'hint', text: t('gdpr.r.generated', { when: r.generated_at, by: r.generator }) }));
  const list = (items) => h('ul', {}, (items || []).map((x) => h('li', { text: x })));
  for (const p of r.processings || []) {
    const row = (label, value) => [h('dt', { text: label }), h('dd', {}, value)];
    box.append(h('section', { class: 'processing' },
      h('h3', { text: `${p.name} (${p.assistant})` }),
      h('dl', {}, ...row(t('gdpr.r.purpose'), p.purpose?.text || ''),
        ...row(t('gdpr.r.basis'), p.legal_basis || ''),
        ...row(t('gdpr.r.categories'), list(p.data_categories)),
        ...row(t('gdpr.r.subjects'), list(p.data_subjects)),
        ...row(t('gdpr.r.retention'), p.retention?.text || ''),
        ...row(t('gdpr.r.recipients'), p.recipients_text || ''),
        ...row(t('gdpr.r.transfers'), p.transfers_outside_eu || ''),
        ...row(t('gdpr.r.security'), list(p.security_measures)),
        ...row(t('gdpr.r.backups'), p.backups?.text || ''))));
  }
  if (!(r.processings || []).length) box.append(h('p', { class: 'hint', text: t('gdpr.r.none') }));
  return box;
}

async function viewGdpr(me, main) {
  const general = statusLine();
  const f = new Fields(general);
  const query = h('input', { type: 'text', spellcheck: 'false', autocomplete: 'off' });
  const found = h('div', { class: 'found', 'aria-live': 'polite' });
  const result = h('div', { class: 'result' });
  let subject = null; // what the last search found
  const check = () => {
    f.clear();
    const s = query.value.trim();
    if (!s) return f.show({ q: t('v.required') }) && null;
    if (bytes(s) > 256) return f.show({ q: t('v.bytes', { max: 256 }) }) && null;
    return s;
  };
  const find = async () => {
    const q = check();
    if (!q) return null;
    clear(found);
    clear(result);
    subject = null;
    try {
      const r = await api('POST', '/api/v1/gdpr/find', { q });
      subject = Object.assign(r, { query: q });
      found.append(h('p', { text: t(`gdpr.by.${r.found_by}`, { ref: r.reference || '', subject: r.subject }) }),
        h('p', { class: 'hint', text: r.conversations
          ? t('gdpr.found', { c: r.conversations, m: r.messages, first: fmtTime(r.first_at), last: fmtTime(r.last_at) })
          : t('gdpr.found.none') }));
      return r;
    } catch (e) {
      if (e.status === 404) found.append(errorBox(e));
      else f.showApiError(e);
      return null;
    }
  };
  // the subject the buttons act on: the one found for what the field holds
  const target = async () => (subject && subject.query === query.value.trim() ? subject : find());
  const doExport = async () => {
    const who = await target();
    if (!who) return;
    clear(result);
    try {
      const x = await api('POST', '/api/v1/gdpr/export', { subject: who.subject });
      const name = `export-${who.subject.replace(/[^\w.-]+/g, '_')}`;
      const json = h('a', { href: URL.createObjectURL(new Blob([JSON.stringify(x, null, 2)], { type: 'application/json' })),
        download: `${name}.json`, class: 'button secondary', text: t('gdpr.download') });
      const html = h('a', { href: URL.createObjectURL(new Blob([exportHtml(x)], { type: 'text/html' })),
        download: `${name}.html`, class: 'button secondary', text: t('gdpr.downloadhtml') });
      f.say(t('gdpr.exported'), 'ok');
      const convs = (x.conversations || []).map((c) => h('section', { class: 'export-conv' },
        h('h3', { text: `${c.title || c.assistant} — ${fmtTime(c.created_at)}` }),
        h('p', { class: 'hint', text: `${t('gdpr.x.conversation')} ${c.id} · ${c.assistant}` }),
        (c.messages || []).map((m) => h('div', { class: `msg ${m.role}` },
          h('p', { class: 'who', text: `${m.role === 'user' ? t('gdpr.x.person') : t('gdpr.x.assistant')} · ${fmtTime(m.created_at)}` }),
          h('p', { class: 'text', text: m.content })))));
      result.append(h('div', { class: 'toolbar' }, json, html),
        h('p', { text: t('gdpr.x.counts', { c: x.usage?.conversations ?? 0, m: x.usage?.messages ?? 0 }) }),
        h('div', { class: 'export-view' }, convs));
    } catch (e) {
      if (e.status === 404 && !e.param) result.append(errorBox(e));
      else f.showApiError(e);
    }
  };
  const doErase = async () => {
    const who = await target();
    if (!who) return;
    const label = who.reference || who.subject;
    if (!(await confirmDialog(t('gdpr.confirmerase', { subject: label })))) return;
    clear(result);
    try {
      const r = await api('POST', '/api/v1/gdpr/erase', { subject: who.subject });
      f.say(t('gdpr.erased'), 'ok');
      const d = r.deleted || {};
      result.append(h('p', { text: t('gdpr.erased.counts', { c: d.conversations ?? 0, m: d.messages ?? 0, p: d.pseudonyms ?? 0 }) }));
      subject = null;
    } catch (e) {
      if (e.status === 404 && !e.param) result.append(errorBox(e));
      else f.showApiError(e);
    }
  };
  const register = h('div', {});
  const loadRegister = async () => {
    clear(register);
    try {
      const r = await api('GET', '/api/v1/register');
      const [md, html] = await Promise.all(['md', 'html'].map(async (fmt) =>
        (await api('GET', `/api/v1/register?format=${fmt}`, undefined, { raw: true })).text()));
      const link = (data, type, ext, label) => h('a', { class: 'button secondary', download: `registre-${me.tenant}.${ext}`,
        text: label, href: URL.createObjectURL(new Blob([data], { type })) });
      register.append(h('div', { class: 'toolbar' },
        h('button', { type: 'button', class: 'secondary', text: t('gdpr.print'), onclick: () => {
          document.body.classList.add('print-register');
          window.print();
          document.body.classList.remove('print-register');
        } }),
        link(html, 'text/html', 'html', t('gdpr.registerhtml')),
        link(JSON.stringify(r, null, 2), 'application/json', 'json', t('gdpr.registerjson')),
        link(md, 'text/markdown', 'md', t('gdpr.registermd'))),
      registerView(r));
    } catch (e) {
      register.append(errorBox(e));
    }
  };
  main.append(h('h1', { text: t('gdpr.title') }),
    h('form', { class: 'card', novalidate: true, onsubmit: (e) => { e.preventDefault(); find(); } },
      h('h2', { text: t('gdpr.request') }),
      f.field('q', t('gdpr.subject'), query, t('gdpr.subject.help')),
      h('div', { class: 'toolbar' },
        h('button', { type: 'submit', class: 'primary', text: t('gdpr.find') }),
        h('button', { type: 'button', class: 'secondary', text: t('gdpr.export'), onclick: doExport }),
        h('button', { type: 'button', class: 'danger', text: t('gdpr.erase'), onclick: doErase })),
      general, found, result),
    h('section', { class: 'card register-card' }, h('h2', { text: t('gdpr.register') }),
      h('button', { type: 'button', class: 'secondary', text: t('gdpr.loadregister'), onclick: loadRegister }),
      register));
}

startShell({
  page: 'console',
  nav,
  render,
  accept: (me) => {
    if (me.role === 'user') {
      const p = document.createDocumentFragment();
      p.append(t('signin.user'), ' ', h('a', { href: '/chat', text: t('nav.chat') }));
      return p;
    }
    return null;
  },
});
