// The chat page (/chat), for every role: pick an assistant, see one's own
// conversations (titled from their first question), search, rename and
// delete them, continue one or start a new one (with the assistant's
// welcome text and starter questions).
//
// A language switch draws the page again (shell.js): everything a person
// may have under way lives in `state` or in nodes kept across draws (the
// chat view with its composer and any answer still streaming, the search
// field, the rename editor's text), so the switch loses nothing.
import { h, t, clear, id, api, fmtTime, errText, bytes, confirmDialog, applyI18n } from './lib.js';
import { startShell } from './shell.js';
import { ChatView, listAssistants } from './chatview.js';

const TITLE_MAX = 200; // bytes, as the server takes it
const SEARCH_DELAY_MS = 250;

let state = null;

function fresh(me) {
  return {
    owner: me.id,
    assistants: null,
    selected: null,
    view: null,
    convs: [],
    loaded: false,
    query: '',
    seq: 0,
    editing: null, // {id, value, error}: the rename editor open
    message: '', // the list's status line
    search: null, // the search field (kept across draws)
    listEl: null,
    statusEl: null,
    selectEl: null,
  };
}

function nav(me) {
  const links = [{ href: '/chat', label: t('nav.chat'), current: true }];
  if (me.role === 'admin' || me.role === 'editor') links.push({ href: '/', label: t('nav.console') });
  return links;
}

const assistantOf = (slug) => state.assistants?.find((a) => a.id === slug);
const titleOf = (c) => c.title || assistantOf(c.assistant)?.name || c.assistant;

function setStatus(text) {
  state.message = text;
  if (state.statusEl) state.statusEl.textContent = text;
}

// The caller's own conversations (or those matching the search), newest
// first. Answers that come back out of order are dropped.
async function refreshList() {
  const seq = ++state.seq;
  const q = state.query.trim();
  let r;
  try {
    r = await api('GET', `/api/v1/conversations?mine=true&limit=50${q ? `&q=${encodeURIComponent(q)}` : ''}`);
  } catch (e) {
    if (seq !== state.seq) return;
    state.convs = [];
    state.loaded = true;
    drawList();
    setStatus(errText(e));
    return;
  }
  if (seq !== state.seq) return;
  state.convs = r.data || [];
  state.loaded = true;
  drawList();
  if (q) {
    setStatus(state.convs.length ? t('chat.search.found', { n: state.convs.length })
      : t('chat.search.none', { q }));
  } else if (state.searched) {
    setStatus(''); // the search was cleared: its count no longer applies
  }
  state.searched = !!q;
}

async function open(c) {
  const { view } = state;
  try {
    const full = await api('GET', `/api/v1/conversations/${encodeURIComponent(c.id)}`);
    if (assistantOf(full.assistant)) selectAssistant(full.assistant, false);
    view.load(full);
    drawList();
    view.input.focus();
  } catch (e) {
    setStatus(errText(e));
  }
}

function selectAssistant(slug, reset = true) {
  state.selected = slug;
  if (state.selectEl) state.selectEl.value = slug;
  state.view.setIntro(assistantOf(slug) || {});
  if (reset) state.view.reset();
}

async function remove(c) {
  if (!(await confirmDialog(t('chat.delete.confirm', { title: titleOf(c) })))) return;
  try {
    await api('DELETE', `/api/v1/conversations/${encodeURIComponent(c.id)}`);
  } catch (e) {
    setStatus(errText(e));
    return;
  }
  if (state.view.conversationId === c.id) state.view.reset();
  setStatus(t('chat.deleted', { title: titleOf(c) }));
  state.convs = state.convs.filter((x) => x.id !== c.id);
  drawList();
  state.search.focus();
  refreshList();
}

async function saveTitle(c) {
  const ed = state.editing;
  const title = ed.value.trim();
  if (!title || bytes(title) > TITLE_MAX || /[\u0000-\u001f\u007f]/.test(title)) {
    ed.error = t('chat.rename.invalid');
    drawList(true);
    return;
  }
  try {
    const r = await api('PATCH', `/api/v1/conversations/${encodeURIComponent(c.id)}`, { title });
    c.title = r.title;
  } catch (e) {
    ed.error = errText(e);
    drawList(true);
    return;
  }
  state.editing = null;
  setStatus(t('chat.renamed', { title }));
  drawList();
  state.listEl.querySelector(`li[data-id="${c.id}"] button.rename`)?.focus();
}

function editor(c, focus) {
  const ed = state.editing;
  const inputId = id('title');
  const errId = id('title-err');
  const cancel = () => {
    state.editing = null;
    drawList();
    state.listEl.querySelector(`li[data-id="${c.id}"] button.rename`)?.focus();
  };
  const input = h('input', { id: inputId, type: 'text', value: ed.value, maxlength: TITLE_MAX,
    'aria-describedby': errId, 'aria-invalid': ed.error ? 'true' : null,
    oninput: () => { ed.value = input.value; },
    onkeydown: (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        cancel();
      }
    } });
  const form = h('form', { class: 'conv-rename', novalidate: true, onsubmit: (e) => {
    e.preventDefault();
    saveTitle(c);
  } },
  h('label', { for: inputId, text: t('chat.rename.field') }), input,
  h('p', { id: errId, class: 'field-error', role: 'alert', text: ed.error || '' }),
  h('div', { class: 'actions' },
    h('button', { type: 'submit', class: 'primary small', text: t('chat.rename.save') }),
    h('button', { type: 'button', class: 'secondary small', text: t('app.cancel'), onclick: cancel })));
  if (focus) queueMicrotask(() => input.focus());
  return form;
}

// Draws the list from state.convs; focusEditor: put the focus in the rename
// field (just opened, or refused with its error).
function drawList(focusEditor = false) {
  const listEl = state.listEl;
  if (!listEl) return;
  const keepFocus = listEl.contains(document.activeElement) && document.activeElement.tagName === 'INPUT';
  clear(listEl);
  if (!state.loaded) {
    listEl.append(h('li', { class: 'hint', text: t('app.loading') }));
    return;
  }
  if (!state.convs.length && !state.query.trim()) listEl.append(h('li', { class: 'hint', text: t('chat.noconv') }));
  for (const c of state.convs) {
    const title = titleOf(c);
    const current = state.view.conversationId === c.id;
    if (state.editing?.id === c.id) {
      listEl.append(h('li', { class: 'conv-item editing', 'data-id': c.id }, editor(c, focusEditor || keepFocus)));
      continue;
    }
    const who = assistantOf(c.assistant)?.name || c.assistant;
    listEl.append(h('li', { class: 'conv-item', 'data-id': c.id },
      h('button', { type: 'button', class: 'conv', 'aria-current': current ? 'true' : null, onclick: () => open(c) },
        h('span', { class: 'conv-title', text: title }),
        h('span', { class: 'conv-meta', text: `${who} · ${fmtTime(c.updated_at)} · ${t('chat.messages', { n: c.message_count })}` })),
      h('div', { class: 'conv-actions' },
        h('button', { type: 'button', class: 'link rename', text: t('chat.rename'),
          'aria-label': t('chat.rename.label', { title }), onclick: () => {
            state.editing = { id: c.id, value: c.title || title, error: '' };
            drawList(true);
          } }),
        h('button', { type: 'button', class: 'link danger-link delete', text: t('chat.delete'),
          'aria-label': t('chat.delete.label', { title }), onclick: () => remove(c) }))));
  }
}

function drawSelect() {
  const sel = state.selectEl;
  clear(sel);
  for (const a of state.assistants) sel.append(h('option', { value: a.id, text: a.name }));
  if (state.selected) sel.value = state.selected;
}

async function render(me, main) {
  if (!state || state.owner !== me.id) {
    state?.view?.stop();
    state = fresh(me);
  }
  if (!state.assistants) {
    clear(main).append(h('p', { class: 'hint', text: t('app.loading') }));
    try {
      state.assistants = await listAssistants();
    } catch (e) {
      clear(main).append(h('p', { class: 'error', role: 'alert', text: errText(e) }));
      return;
    }
    if (!state.selected || !assistantOf(state.selected)) state.selected = state.assistants[0]?.id || null;
  }
  if (!state.view) {
    state.view = new ChatView({
      model: () => state.selected,
      onConversation: () => drawList(),
      onDone: () => refreshList(),
      label: t('chat.title'),
    });
    state.view.list.dataset.i18nLabel = 'chat.title';
    state.view.setIntro(assistantOf(state.selected) || {});
    const searchId = id('search');
    let timer = null;
    state.search = h('input', { id: searchId, type: 'search', autocomplete: 'off', maxlength: 200,
      oninput: () => {
        state.query = state.search.value;
        clearTimeout(timer);
        timer = setTimeout(refreshList, SEARCH_DELAY_MS);
      } });
  }
  const { view } = state;
  const selId = id('assistant');
  state.selectEl = h('select', { id: selId, onchange: () => selectAssistant(state.selectEl.value) });
  drawSelect();
  state.listEl = h('ul', { class: 'conversations', 'aria-label': t('chat.history') });
  state.statusEl = h('p', { class: 'status conv-status', role: 'status', text: state.message });
  clear(main);
  main.append(h('div', { class: 'chat-page' },
    h('aside', { class: 'side' },
      h('h1', { class: 'sr-only', text: t('chat.title') }),
      h('label', { for: selId, text: t('chat.assistant') }), state.selectEl,
      h('button', { type: 'button', class: 'primary new-conv', text: t('chat.new'), onclick: () => {
        view.reset();
        drawList();
        view.input.focus();
      } }),
      h('h2', { text: t('chat.history') }),
      h('div', { class: 'conv-search', role: 'search' },
        h('label', { for: state.search.id, text: t('chat.search') }), state.search),
      state.statusEl,
      h('div', { class: 'conv-list' }, state.listEl)),
    h('section', { class: 'chat-main', 'aria-label': t('chat.title') },
      state.assistants.length ? view.root : h('p', { class: 'hint', text: t('chat.noassistant') }))));
  view.relabel();
  applyI18n(main);
  drawList();
  if (!state.loaded) refreshList();
}

startShell({
  page: 'chat',
  nav,
  render,
  accept: (me) => (me.role === 'operator' ? t('signin.operator') : null),
});
