// One chat: the messages, a composer, streaming answers with a stop button,
// numbered sources that open their cited excerpt, and an error with a retry
// button when the connection is lost; each answer can be copied, the last one
// asked again (regenerated); a new conversation can show the assistant's
// welcome text and starter questions. Fixed words carry data-i18n, so a
// language switch relabels the view in place (applyI18n) and nothing typed
// or streaming is lost. Used by the chat page and by the console's test chat
// beside the assistant form.
import { h, t, clear, id, api, getKey, readSSE, ApiError, errText, applyI18n } from './lib.js';
import { renderMarkdown } from './md.js';

export class ChatView {
  // model(): the assistant slug to talk to (null: none chosen).
  // onConversation(id): the server named the conversation (a new one is
  // stored once its first answer ends). onDone(): an answer has ended.
  // extra(): more fields of each request's body (the console's test panel
  // asks for the draft: { assistant_version: 'draft' }).
  // onSources(list): the sources of an answer, as the server sent them.
  constructor({ model, onConversation = () => {}, onDone = () => {}, compact = false, label, extra = () => ({}),
    onSources = () => {} }) {
    this.model = model;
    this.extra = extra;
    this.onSources = onSources;
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
    this.empty = h('div', { class: 'chat-intro' }, h('p', { class: 'hint', 'data-i18n': 'chat.empty',
      text: t('chat.empty') }));
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
    this.sendBtn = h('button', { type: 'submit', class: 'primary', 'data-i18n': 'chat.send', text: t('chat.send') });
    this.stopBtn = h('button', { type: 'button', class: 'danger', 'data-i18n': 'chat.stop', text: t('chat.stop'),
      hidden: true,
      onclick: () => this.stop() });
    this.form = h('form', { class: 'composer', onsubmit: (e) => {
      e.preventDefault();
      const text = this.input.value.trim();
      if (!text || this.busy) return;
      this.input.value = '';
      this.send(text);
    } },
    h('label', { for: inputId, class: 'sr-only', 'data-i18n': 'chat.input', text: t('chat.input') }),
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
        h('button', { type: 'button', class: 'secondary', 'data-i18n': 'app.close', text: t('app.close'),
          onclick: () => dlg.close() })));
    return dlg;
  }

  openSource(s) {
    this.dlgTitle.textContent = t('chat.source', { n: s.index });
    const meta = [s.document];
    if (s.page) meta.push(t('chat.page', { p: s.page }));
    // one source per document page, its passages inside (docs/grounding.md §5)
    const ps = Array.isArray(s.passages) && s.passages.length ? s.passages : [{ excerpt: s.excerpt, section: s.section }];
    if (s.section && ps.every((p) => p.section === s.section)) meta.push(s.section);
    this.dlgMeta.textContent = meta.join(' · ');
    clear(this.dlgExcerpt).append(...ps.map((p) => h('p', {},
      ps.length > 1 && p.section ? h('strong', { text: `${p.section} : ` }) : null, p.excerpt || '')));
    this.dialog.showModal();
  }

  reset() {
    this.stop();
    this.conversationId = null;
    clear(this.list).append(this.empty);
    this.live.textContent = '';
  }

  // What a new conversation shows: the assistant's welcome text and its
  // starter questions as buttons that ask them (none: "ask a question").
  setIntro({ welcome = '', starters = [] } = {}) {
    clear(this.empty);
    if (welcome) this.empty.append(h('p', { class: 'welcome', text: welcome }));
    else this.empty.append(h('p', { class: 'hint', 'data-i18n': 'chat.empty', text: t('chat.empty') }));
    const list = (starters || []).filter((q) => typeof q === 'string' && q.trim());
    if (list.length) {
      const headId = id('starters');
      this.empty.append(h('p', { id: headId, class: 'label', 'data-i18n': 'chat.starters', text: t('chat.starters') }),
        h('ul', { class: 'starters', 'aria-labelledby': headId }, list.map((q) => h('li', {},
          h('button', { type: 'button', class: 'secondary starter', text: q, onclick: () => {
            if (!this.busy) this.send(q);
          } })))));
    }
  }

  // The words of the view in the page's language (after a switch).
  relabel() {
    applyI18n(this.root);
    for (const el of this.root.querySelectorAll('[data-i18n-label]')) {
      el.setAttribute('aria-label', t(el.dataset.i18nLabel));
    }
  }

  // Shows a stored conversation ({id, messages: [{role, content}]}) and
  // continues it.
  load(conv) {
    this.reset();
    this.conversationId = conv.id;
    let question = null;
    for (const m of conv.messages || []) {
      if (m.role === 'user') {
        this.addUser(m.content);
        question = m.content;
      } else if (m.role === 'assistant') {
        const bot = this.addBot();
        bot.setText(m.content);
        bot.question = question;
        bot.stored = true;
      }
    }
    this.updateActions();
  }

  addUser(text) {
    this.empty.remove();
    const li = h('div', { class: 'msg user' }, h('p', { class: 'who', 'data-i18n': 'chat.you', text: t('chat.you') }),
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
    const copyBtn = h('button', { type: 'button', class: 'secondary small copy', 'data-i18n': 'chat.copy',
      'data-i18n-label': 'chat.copy.label', 'aria-label': t('chat.copy.label'), text: t('chat.copy'),
      onclick: () => this.copy(bot, copyBtn, copyStatus) });
    const regenBtn = h('button', { type: 'button', class: 'secondary small regen', 'data-i18n': 'chat.regenerate',
      'data-i18n-label': 'chat.regenerate.label', 'aria-label': t('chat.regenerate.label'),
      text: t('chat.regenerate'), onclick: () => this.regenerate(bot) });
    // what the copy did, for the eyes (the live region says it aloud)
    const copyStatus = h('span', { class: 'copy-status', 'aria-hidden': 'true' });
    const actions = h('div', { class: 'msg-actions', hidden: true }, copyBtn, regenBtn, copyStatus);
    const feedback = this.feedbackBox(() => bot);
    const el = h('div', { class: 'msg bot', 'aria-busy': 'false' },
      h('p', { class: 'who', 'data-i18n': 'chat.bot', text: t('chat.bot') }), body, sources, note, actions,
      feedback.el);
    this.list.append(el);
    let srcs = [];
    let pending = null;
    const bot = {
      el,
      actions,
      regenBtn,
      feedback,
      question: null, // the question this answers
      stored: false, // the server keeps this exchange (it ended with [DONE])
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
        sources.append(h('p', { class: 'label', 'data-i18n': 'chat.sources', text: t('chat.sources') }),
          h('ol', {}, list.map((s) => h('li', {},
            h('button', { type: 'button', class: 'link source-link', onclick: () => this.openSource(s) },
              `[${s.index}] ${s.document}${s.page ? `, ${t('chat.page', { p: s.page })}` : ''}`
              + `${s.passages?.length > 1 ? ` (${t('chat.passages', { n: s.passages.length })})` : ''}`)))));
      },
      setNote: (text, kind = 'info', retry = null) => {
        clear(note);
        note.dataset.kind = kind;
        if (!text) return;
        note.append(h('span', { text }));
        if (retry) note.append(' ', h('button', { type: 'button', class: 'secondary retry', 'data-i18n': 'chat.retry',
          text: t('chat.retry'), onclick: retry }));
      },
    };
    el.lairBot = bot;
    return bot;
  }

  // Thumbs up or down on an answer, then an optional comment
  // (POST /api/v1/conversations/{id}/feedback, no message_id: the
  // conversation's last answer, so only the last stored answer can be
  // rated; a second rating replaces the first).
  feedbackBox(getBot) {
    const status = h('span', { class: 'fb-status', role: 'status' });
    const commentId = id('fb-comment');
    const comment = h('textarea', { id: commentId, rows: 2, maxlength: 2000 });
    let rating = null;
    const send = async (withComment) => {
      const body = { rating };
      if (withComment) body.comment = comment.value.trim();
      try {
        await api('POST', `/api/v1/conversations/${encodeURIComponent(this.conversationId)}/feedback`, body);
        status.dataset.i18n = withComment ? 'chat.fb.commented' : 'chat.fb.thanks';
        status.textContent = t(status.dataset.i18n);
        if (withComment) form.hidden = true;
      } catch (e) {
        delete status.dataset.i18n;
        status.textContent = errText(e);
      }
    };
    const thumb = (value, icon) => h('button', { type: 'button', class: `secondary small fb-${value}`,
      'aria-pressed': 'false', 'data-i18n-label': `chat.fb.${value}`, 'aria-label': t(`chat.fb.${value}`),
      title: t(`chat.fb.${value}`), text: icon, onclick: () => {
        rating = value;
        for (const b of [up, down]) b.setAttribute('aria-pressed', String(b === (value === 'up' ? up : down)));
        form.hidden = false;
        send(false);
      } });
    const up = thumb('up', '👍');
    const down = thumb('down', '👎');
    const form = h('form', { class: 'fb-form', hidden: true, onsubmit: (e) => {
      e.preventDefault();
      if (rating) send(true);
    } },
    h('label', { for: commentId, 'data-i18n': 'chat.fb.comment', text: t('chat.fb.comment') }), comment,
    h('button', { type: 'submit', class: 'secondary small', 'data-i18n': 'chat.fb.send', text: t('chat.fb.send') }));
    const el = h('div', { class: 'feedback', hidden: true }, up, down, status, form);
    return { el, show: (on) => { el.hidden = !on; } };
  }

  citeButton(srcs, n) {
    const s = srcs.find((x) => x.index === n);
    if (!s) return null;
    return h('button', { type: 'button', class: 'cite', 'aria-label': `${t('chat.source', { n })} : ${s.document}`,
      onclick: () => this.openSource(s) }, String(n));
  }

  // Copy and regenerate under each finished answer; regenerate only under
  // the last one, and not while an answer is coming.
  updateActions() {
    const bots = [...this.list.querySelectorAll('.msg.bot')];
    for (const el of bots) {
      const bot = el.lairBot;
      if (!bot) continue;
      bot.actions.hidden = !bot.text && !bot.question;
      bot.regenBtn.hidden = this.busy || el !== bots[bots.length - 1] || !bot.question;
      // a rating goes to the conversation's last stored answer
      bot.feedback.show(!this.busy && el === bots[bots.length - 1] && bot.stored && !!this.conversationId);
    }
  }

  async copy(bot, btn, shown) {
    let ok = false;
    try {
      await navigator.clipboard.writeText(bot.text);
      ok = true;
    } catch {
      // no clipboard API (a page not served over HTTPS): the old way
      const ta = h('textarea', { class: 'sr-only', readonly: true, 'aria-hidden': 'true' });
      ta.value = bot.text;
      document.body.append(ta);
      ta.select();
      try { ok = document.execCommand('copy'); } catch { ok = false; }
      ta.remove();
      btn.focus();
    }
    const word = ok ? 'chat.copied' : 'chat.copyfailed';
    this.live.append(h('p', { text: t(word) }));
    shown.textContent = t(word);
    shown.dataset.i18n = word;
    clearTimeout(shown.lairTimer);
    shown.lairTimer = setTimeout(() => {
      delete shown.dataset.i18n;
      shown.textContent = '';
    }, 3000);
  }

  // Asks the last question again in place of its answer. A stored exchange
  // is taken back on the server first (DELETE …/last-exchange), so that the
  // conversation keeps one answer per question; one that was never stored
  // (stopped, failed) is simply asked again.
  async regenerate(bot) {
    if (this.busy || !bot.question) return;
    if (bot.stored && this.conversationId) {
      try {
        await api('DELETE', `/api/v1/conversations/${encodeURIComponent(this.conversationId)}/last-exchange`);
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 'conversation_empty')) {
          bot.setNote(errText(e), 'error');
          return;
        }
      }
      bot.stored = false;
    }
    bot.setSources([]);
    bot.setText('');
    this.send(bot.question, bot);
  }

  // Swaps Send and Stop; the focus never falls on a hidden button.
  setStreaming(on) {
    const hidden = on ? this.sendBtn : this.stopBtn;
    const refocus = document.activeElement === hidden;
    this.busy = on;
    this.sendBtn.hidden = on;
    this.stopBtn.hidden = !on;
    this.updateActions();
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
    bot.question = text;
    bot.stored = false;
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
    const body = { ...this.extra(), model, messages: [{ role: 'user', content: text }], stream: true };
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
        if (Array.isArray(ev.sources)) {
          bot.setSources(ev.sources);
          this.onSources(ev.sources);
        }
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
        bot.stored = true;
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
      this.updateActions();
      this.onDone();
    }
  }
}

// The published assistants the key may chat with: [{id, name, welcome,
// starters}].
export async function listAssistants() {
  const r = await api('GET', '/v1/models');
  return (r.data || []).filter((m) => m.owned_by !== 'libreair').map((m) => ({ id: m.id, name: m.name || m.id,
    welcome: m.welcome || '', starters: Array.isArray(m.starters) ? m.starters : [] }));
}
