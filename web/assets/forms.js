// Form fields with their error message next to them, filled from the
// browser-side checks before sending and from the server's 422/409 answers
// (whose "param" names the field: "params.temperature", "starters[2]").
import { h, t, id, errText } from './lib.js';

export class Fields {
  constructor(generalEl) {
    this.map = new Map();
    this.general = generalEl;
  }

  // Registers a field and returns its wrapper: label, help, control, error.
  field(param, label, control, help) {
    const ctlId = control.id || id('f');
    control.id = ctlId;
    const errId = id('err');
    const helpId = help ? id('help') : null;
    const err = h('p', { id: errId, class: 'field-error' });
    control.setAttribute('aria-describedby', [helpId, errId].filter(Boolean).join(' '));
    const wrap = h('div', { class: 'field', 'data-param': param },
      h('label', { for: ctlId, text: label }),
      help ? h('p', { id: helpId, class: 'help', text: help }) : null,
      control, err);
    this.map.set(param, { control, err, wrap });
    return wrap;
  }

  // A group of checkboxes (fieldset) registered under one param.
  group(param, legend, children) {
    const errId = id('err');
    const err = h('p', { id: errId, class: 'field-error' });
    const fs = h('fieldset', { class: 'field', 'data-param': param, 'aria-describedby': errId },
      h('legend', { text: legend }), children, err);
    this.map.set(param, { control: fs.querySelector('input') || fs, err, wrap: fs });
    return fs;
  }

  clear() {
    for (const { control, err } of this.map.values()) {
      err.textContent = '';
      control.removeAttribute('aria-invalid');
    }
    if (this.general) {
      this.general.textContent = '';
      delete this.general.dataset.kind;
    }
  }

  // The registered field a server "param" designates, if any.
  find(param) {
    if (!param) return null;
    if (this.map.has(param)) return this.map.get(param);
    const base = param.replace(/\[\d+\].*$/, '');
    if (this.map.has(base)) return this.map.get(base);
    const top = param.split('.')[0].replace(/\[\d+\]$/, '');
    return this.map.get(top) || null;
  }

  // Shows errors {param: message}; focuses the first one. True when any.
  show(errors) {
    let first = null;
    for (const [param, msg] of Object.entries(errors)) {
      const f = this.find(param);
      if (!f) {
        this.say(msg, 'error');
        continue;
      }
      f.err.textContent = msg;
      f.control.setAttribute('aria-invalid', 'true');
      first = first || f.control;
    }
    if (first) first.focus();
    return Object.keys(errors).length > 0;
  }

  // A server error: next to its field when it names one, else in general.
  showApiError(e) {
    if (e.param && this.find(e.param)) this.show({ [e.param]: errText(e) });
    else this.say(errText(e), 'error');
  }

  say(text, kind = 'info') {
    if (!this.general) return;
    this.general.textContent = text;
    this.general.dataset.kind = kind;
  }
}
