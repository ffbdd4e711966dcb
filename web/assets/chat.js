// The chat page (/chat), for every role: pick an assistant, see one's
// conversations, continue one or start a new one.
import { h, t, clear, id, api, fmtTime, errText } from './lib.js';
import { startShell } from './shell.js';
import { ChatView, listAssistants } from './chatview.js';

let view = null;
let assistants = [];
let selected = null;

function nav(me) {
  const links = [{ href: '/chat', label: t('nav.chat'), current: true }];
  if (me.role === 'admin' || me.role === 'editor') links.push({ href: '/', label: t('nav.console') });
  return links;
}

async function drawConversations(listEl) {
  clear(listEl);
  let r;
  try {
    r = await api('GET', '/api/v1/conversations?limit=50');
  } catch (e) {
    listEl.append(h('li', { class: 'error', text: errText(e) }));
    return;
  }
  if (!r.data.length) listEl.append(h('li', { class: 'hint', text: t('app.none') }));
  for (const c of r.data) {
    const name = assistants.find((a) => a.id === c.assistant)?.name || c.assistant;
    listEl.append(h('li', {}, h('button', { type: 'button', class: 'conv',
      'aria-current': view?.conversationId === c.id ? 'true' : null,
      onclick: async () => {
        try {
          const full = await api('GET', `/api/v1/conversations/${encodeURIComponent(c.id)}`);
          if (assistants.some((a) => a.id === full.assistant)) selected = full.assistant;
          drawSelect();
          view.load(full);
          for (const b of listEl.querySelectorAll('button.conv')) b.removeAttribute('aria-current');
          listEl.querySelectorAll('button.conv').forEach((b) => {
            if (b.dataset.id === c.id) b.setAttribute('aria-current', 'true');
          });
          view.input.focus();
        } catch (e) {
          view.list.append(h('p', { class: 'error', role: 'alert', text: errText(e) }));
        }
      }, 'data-id': c.id },
    h('span', { class: 'conv-title', text: name }),
    h('span', { class: 'conv-meta', text: `${fmtTime(c.updated_at)} · ${t('chat.messages', { n: c.message_count })}` }))));
  }
}

let selectEl = null;
function drawSelect() {
  if (!selectEl) return;
  clear(selectEl);
  for (const a of assistants) selectEl.append(h('option', { value: a.id, text: a.name }));
  if (selected) selectEl.value = selected;
}

async function render(me, main) {
  const continued = view?.conversationId; // drawn again (language): keep the conversation
  clear(main);
  try {
    assistants = await listAssistants();
  } catch (e) {
    main.append(h('p', { class: 'error', role: 'alert', text: errText(e) }));
    return;
  }
  if (!selected || !assistants.some((a) => a.id === selected)) selected = assistants[0]?.id || null;
  const listEl = h('ul', { class: 'conversations' });
  view = new ChatView({
    model: () => selected,
    onDone: () => drawConversations(listEl),
    label: t('chat.title'),
  });
  const selId = id('assistant');
  selectEl = h('select', { id: selId, onchange: () => {
    selected = selectEl.value;
    view.reset();
  } });
  drawSelect();
  main.append(h('div', { class: 'chat-page' },
    h('aside', { class: 'side' },
      h('h1', { class: 'sr-only', text: t('chat.title') }),
      h('label', { for: selId, text: t('chat.assistant') }), selectEl,
      h('button', { type: 'button', class: 'primary new-conv', text: t('chat.new'), onclick: () => {
        view.reset();
        view.input.focus();
      } }),
      h('h2', { text: t('chat.history') }), listEl),
    h('section', { class: 'chat-main', 'aria-label': t('chat.title') },
      assistants.length ? view.root : h('p', { class: 'hint', text: t('chat.noassistant') }))));
  drawConversations(listEl);
  if (continued) {
    try {
      view.load(await api('GET', `/api/v1/conversations/${encodeURIComponent(continued)}`));
    } catch {
      // gone meanwhile: a new conversation then
    }
  }
}

startShell({
  page: 'chat',
  nav,
  render,
  accept: (me) => (me.role === 'operator' ? t('signin.operator') : null),
});
