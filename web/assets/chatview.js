// One chat: the messages, a composer, streaming answers with a stop button,
// numbered sources that open their cited excerpt, and an error with a retry
// button when the connection is lost. Used by the chat page and by the
// console's test chat beside the assistant form.
import { h, t, clear, id, api, getKey, readSSE, ApiError, errText } from './lib.js';
import { renderMarkdown } from './md.js';

export class ChatView {
  // model(): the assistant slug to talk to (null: none chosen).
  // onConversation(id): the server named the conversation (a new one is
  // stored once its first answer ends). onDone(): an answer has ended.
  constructor({ model, onConversation = () => {}, onDone = () => {}, compact = false, label }) {
    this.model = model;
    this.onConversation = onConversation;
    this.onDone = onDone;
    this.conversationId = null;
    this.busy = false;
    this.ctrl = null;
    this.userStopped = false;
    const inputId = id('chat-input');
    // not a live region itself: tokens would be read one by one; finished
    // sentences go to this.live instead
    this.list = h('div', { class: 'messages', role: 'region', tabindex: 0, 'aria-label': label || t('chat.title') });
    this.empty = h('p', { class: 'hint', text: t('chat.empty') });
    this.list.append(this.empty);
    // finished sentences of the answer are read out from here
    this.live = h('div', { class: 'sr-only', 'aria-live': 'polite', 'aria-atomic': 'false' });
    this.input = h('textarea', { id: inputId, rows: compact ? 2 : 3, maxlength: 8000,
      onkeydown: (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          this.form.requestSubmit();
        }
      } });
    this.sendBtn = h('button', { type: 'submit', class: 'primary', text: t('chat.send') });
    this.stopBtn = h('button', { type: 'button', class: 'danger', text: t('chat.stop'), hidden: true,
      onclick: () => this.stop() });
    this.form = h('form', { class: 'composer', onsubmit: (e) => {
      e.preventDefault();
      const text = this.input.value.trim();
      if (!text || this.busy) return;
      this.input.value = '';
      this.send(text);
    } },
    h('label', { for: inputId, class: 'sr-only', text: t('chat.input') }),
    this.input, h('div', { class: 'composer-actions' }, this.sendBtn, this.stopBtn));
    this.dialog = this.makeDialog();
    this.root = h('div', { class: compact ? 'chat compact' : 'chat' }, this.list, this.form, this.live,
      this.dialog);
  }

  makeDialog() {
    const titleId = id('src-title');
    this.dlgTitle = h('h2', { id: titleId });
    this.dlgMeta = h('p', { class: 'meta' });
    this.dlgExcerpt = h('blockquote', { class: 'excerpt' });
    const dlg = h('dialog', { class: 'source', 'aria-labelledby': titleId },
      this.dlgTitle, this.dlgMeta, h('p', { class: 'label', text: t('chat.excerpt') }), this.dlgExcerpt,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', text: t('app.close'), onclick: () => dlg.close() })));
    return dlg;
  }

  openSource(s) {
    this.dlgTitle.textContent = t('chat.source', { n: s.index });
    const meta = [s.document];
    if (s.page) meta.push(t('chat.page', { p: s.page }));
    if (s.section) meta.push(s.section);
    this.dlgMeta.textContent = meta.join(' · ');
    this.dlgExcerpt.textContent = s.excerpt || '';
    this.dialog.showModal();
  }

  reset() {
    this.stop();
    this.conversationId = null;
    clear(this.list).append(this.empty);
    this.live.textContent = '';
  }

  // Shows a stored conversation ({id, messages: [{role, content}]}) and
  // continues it.
  load(conv) {
    this.reset();
    this.conversationId = conv.id;
    for (const m of conv.messages || []) {
      if (m.role === 'user') this.addUser(m.content);
      else if (m.role === 'assistant') this.addBot().setText(m.content);
    }
  }

  addUser(text) {
    this.empty.remove();
    const li = h('div', { class: 'msg user' }, h('p', { class: 'who', text: t('chat.you') }),
      h('p', { class: 'body', text }));
    this.list.append(li);
    li.scrollIntoView({ block: 'end' });
    return li;
  }

  addBot() {
    this.empty.remove();
    const body = h('div', { class: 'body md' });
    const sources = h('div', { class: 'sources' });
    const note = h('div', { class: 'note', role: 'status' });
    const el = h('div', { class: 'msg bot', 'aria-busy': 'false' },
      h('p', { class: 'who', text: t('chat.bot') }), body, sources, note);
    this.list.append(el);
    let srcs = [];
    let pending = null;
    const bot = {
      el,
      text: '',
      setText: (text) => {
        bot.text = text;
        if (pending) return;
        // one render per frame, however fast the tokens come
        pending = requestAnimationFrame(() => {
          pending = null;
          clear(body).append(renderMarkdown(bot.text, { cite: (n) => this.citeButton(srcs, n) }));
          el.scrollIntoView({ block: 'end' });
        });
      },
      flush: () => {
        if (pending) cancelAnimationFrame(pending);
        pending = null;
        clear(body).append(renderMarkdown(bot.text, { cite: (n) => this.citeButton(srcs, n) }));
      },
      setSources: (list) => {
        srcs = list;
        clear(sources);
        if (!list.length) return;
        sources.append(h('p', { class: 'label', text: t('chat.sources') }),
          h('ol', {}, list.map((s) => h('li', {},
            h('button', { type: 'button', class: 'link source-link', onclick: () => this.openSource(s) },
              `[${s.index}] ${s.document}${s.page ? `, ${t('chat.page', { p: s.page })}` : ''}`)))));
      },
      setNote: (text, kind = 'info', retry = null) => {
        clear(note);
        note.dataset.kind = kind;
        if (!text) return;
        note.append(h('span', { text }));
        if (retry) note.append(' ', h('button', { type: 'button', class: 'secondary retry', text: t('chat.retry'),
          onclick: retry }));
      },
    };
    return bot;
  }

  citeButton(srcs, n) {
    const s = srcs.find((x) => x.index === n);
    if (!s) return null;
    return h('button', { type: 'button', class: 'cite', 'aria-label': `${t('chat.source', { n })} : ${s.document}`,
      onclick: () => this.openSource(s) }, String(n));
  }

  // Swaps Send and Stop; the focus never falls on a hidden button.
  setStreaming(on) {
    const hidden = on ? this.sendBtn : this.stopBtn;
    const refocus = document.activeElement === hidden;
    this.busy = on;
    this.sendBtn.hidden = on;
    this.stopBtn.hidden = !on;
    if (refocus) this.input.focus({ preventScroll: true });
  }

  stop() {
    if (this.ctrl) {
      this.userStopped = true;
      this.ctrl.abort();
    }
  }

  // Reads finished sentences out through the live region.
  announce(bot, final) {
    const text = bot.text;
    const from = bot.announced || 0;
    let upto = from;
    const re = /[.!?…:](\s|$)/g;
    re.lastIndex = from;
    let m;
    while ((m = re.exec(text))) upto = m.index + 1;
    if (final) upto = text.length;
    const piece = text.slice(from, upto).trim();
    if (piece) {
      this.live.append(h('p', { text: piece }));
      while (this.live.childElementCount > 4) this.live.firstElementChild.remove();
    }
    bot.announced = upto;
  }

  async send(text, bot = null) {
    const model = this.model();
    if (!model || this.busy) return;
    if (!bot) {
      this.addUser(text);
      bot = this.addBot();
    }
    bot.text = '';
    bot.announced = 0;
    bot.setNote('');
    bot.el.setAttribute('aria-busy', 'true');
    const ctrl = new AbortController();
    this.ctrl = ctrl;
    this.userStopped = false;
    this.setStreaming(true);
    const retry = () => {
      bot.setNote('');
      this.send(text, bot);
    };
    const body = { model, messages: [{ role: 'user', content: text }], stream: true };
    if (this.conversationId) body.conversation_id = this.conversationId;
    try {
      const res = await fetch('/v1/chat/completions', {
        method: 'POST',
        headers: { Authorization: `Bearer ${getKey()}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        signal: ctrl.signal,
      });
      if (!res.ok) {
        let json = null;
        try { json = await res.json(); } catch { json = null; }
        throw new ApiError(res.status, json, Number(res.headers.get('Retry-After')) || 0);
      }
      const complete = await readSSE(res, (ev) => {
        if (ev.error) throw new ApiError(500, ev);
        if (ev.conversation_id && ev.conversation_id !== this.conversationId) {
          this.conversationId = ev.conversation_id;
          this.onConversation(ev.conversation_id);
        }
        if (Array.isArray(ev.sources)) bot.setSources(ev.sources);
        if (ev.answer_mode === 'degraded') bot.setNote(t('chat.degraded'));
        const d = ev.choices?.[0]?.delta?.content;
        if (d) {
          bot.setText(bot.text + d);
          this.announce(bot, false);
        }
      });
      bot.flush();
      if (!complete) {
        bot.setNote(t('chat.lost'), 'error', retry);
      } else {
        this.announce(bot, true);
      }
    } catch (e) {
      bot.flush();
      if (e.name === 'AbortError' && this.userStopped) {
        bot.setNote(t('chat.stopped'));
      } else if (e instanceof ApiError && e.status === 429) {
        bot.setNote(t('chat.ratelimited', { s: e.retryAfter || 30 }), 'error', retry);
      } else if (e instanceof ApiError && e.status === 503) {
        bot.setNote(t('chat.busy'), 'error', retry);
      } else if (e instanceof ApiError && e.code === 'conversation_not_found') {
        this.conversationId = null; // gone (deleted, expired): start afresh
        bot.setNote(errText(e), 'error', retry);
      } else if (e instanceof ApiError && e.status) {
        bot.setNote(errText(e), 'error', e.status >= 500 ? retry : null);
      } else {
        bot.setNote(t('chat.lost'), 'error', retry);
      }
    } finally {
      if (this.ctrl === ctrl) this.ctrl = null;
      ctrl.abort(); // releases the connection when we stopped reading early
      bot.el.setAttribute('aria-busy', 'false');
      this.setStreaming(false);
      this.onDone();
    }
  }
}

// The published assistants the key may chat with: [{id, name}].
export async function listAssistants() {
  const r = await api('GET', '/v1/models');
  return (r.data || []).filter((m) => m.owned_by !== 'libreair').map((m) => ({ id: m.id, name: m.name || m.id }));
}
