// DOM helpers and the rendering of the device-side node model (protocol
// §7): a step is drawn from its nodes, never from its type, so new modules
// work without a new app.

// h creates an element: attrs are properties (on*, class, dataset, aria-*
// and other attributes are handled), children are nodes or strings.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('aria-') || k === 'role' || k === 'for' || k === 'inputmode' || k === 'autocomplete' || k === 'pattern' || k === 'maxlength') el.setAttribute(k, v === true ? '' : String(v));
    else el[k] = v;
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// show replaces the content of main with children and moves the focus to
// its first heading (or main itself), so screen readers and keyboards
// follow the change of screen.
export function show(main, ...children) {
  announce('');
  main.replaceChildren(...children.flat().filter(Boolean));
  const target = main.querySelector('h2') || main;
  if (!target.hasAttribute('tabindex')) target.setAttribute('tabindex', '-1');
  target.focus({ preventScroll: false });
}

// announce says msg in the aria-live status line.
export function announce(msg) {
  const st = document.getElementById('status');
  if (st) st.textContent = msg || '';
}

// when formats Unix seconds as a local date and time.
export function when(unix) {
  if (!unix) return '';
  const d = new Date(unix * 1000);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

// browserName shortens a User-Agent to what a person recognises.
export function browserName(ua) {
  if (!ua) return '';
  const os = /Windows/.test(ua) ? 'Windows' : /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS X|Macintosh/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : /CrOS/.test(ua) ? 'ChromeOS' : '';
  const br = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrome\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : '';
  const name = [br, os].filter(Boolean).join(' on ');
  return name || ua.slice(0, 80);
}

// contextCard shows what the person is confirming: the application, the
// web side's address and browser, the time, and the binding message.
export function contextCard(ctx) {
  if (!ctx) return null;
  const rows = [['Application', ctx.application]];
  if (ctx.web_ip) rows.push(['Web page opened from', ctx.web_ip]);
  if (ctx.web_user_agent) rows.push(['Browser', browserName(ctx.web_user_agent)]);
  if (ctx.requested_at) rows.push(['Started', when(ctx.requested_at)]);
  return h('section', { class: 'context', 'aria-label': 'What you are confirming' },
    ctx.binding_message ? h('p', { class: 'binding' }, h('span', { class: 'label' }, 'The site shows: '), h('strong', {}, ctx.binding_message)) : null,
    h('dl', {}, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v || '\u2014')])));
}

// Known node kinds. A named node of another kind cannot be answered.
const kinds = new Set(['text', 'number', 'input', 'choice', 'location', 'deadline']);

// unanswerable returns true when step has a named node of a kind this app
// does not know (the person must update the app).
export function unanswerable(step) {
  return (step.nodes || []).some((n) => !kinds.has(n.kind) && n.name);
}

// keypad returns a numeric keypad that types into input.
function keypad(input) {
  const press = (d) => () => {
    const max = input.maxLength > 0 ? input.maxLength : 12;
    if (d === 'del') input.value = input.value.slice(0, -1);
    else if (input.value.length < max) input.value += d;
    input.dispatchEvent(new Event('input', { bubbles: true }));
  };
  const keys = ['1', '2', '3', '4', '5', '6', '7', '8', '9', 'del', '0'];
  return h('div', { class: 'keypad', role: 'group', 'aria-label': 'Keypad' },
    keys.map((k) => h('button', { type: 'button', class: 'key', onclick: press(k), 'aria-label': k === 'del' ? 'Delete the last digit' : k }, k === 'del' ? '\u232b' : k)));
}

// stepForm renders step's nodes as a form. onAnswer(values) is called
// with the values of the named nodes (strings; a location node's value is
// filled by getLocation, which onAnswer's caller provides through
// needsLocation); onDeny is "this wasn't me". It returns the form.
export function stepForm(step, { onAnswer, onDeny, busy }) {
  const nodes = step.nodes || [];
  const named = nodes.filter((n) => n.name && ['input', 'choice', 'location'].includes(n.kind));
  const hasLocation = named.some((n) => n.kind === 'location');
  // A step whose only answer is one choice is answered by tapping an
  // option: big buttons. Otherwise choices are radio groups.
  const onlyChoice = named.length === 1 && named[0].kind === 'choice';
  const form = h('form', { class: 'step', noValidate: true, 'aria-labelledby': 'step-title' });
  const items = [];
  if (step.error) items.push(h('p', { class: 'error', role: 'alert', id: 'step-error' }, step.error));
  for (const n of nodes) {
    const errId = n.name ? `err-${n.name}` : '';
    const fieldErr = n.error ? h('p', { class: 'error field-error', id: errId }, n.error) : null;
    switch (n.kind) {
      case 'text':
        items.push(h('p', { class: 'text' }, n.text));
        break;
      case 'number':
        items.push(h('div', { class: 'number-display' }, n.label ? h('p', { class: 'label' }, n.label) : null, h('p', { class: 'big-number' }, n.text || n.value)));
        break;
      case 'deadline': {
        const out = h('p', { class: 'deadline', 'aria-live': 'off' });
        const tick = () => {
          const left = Math.max(0, Math.round(Number(n.value) - Date.now() / 1000));
          out.textContent = `${n.label || 'Time left'}: ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
          if (left > 0 && out.isConnected) setTimeout(tick, 1000);
        };
        setTimeout(tick, 0);
        items.push(out);
        break;
      }
      case 'input': {
        const id = `f-${n.name}`;
        const hintId = n.hint ? `hint-${n.name}` : '';
        const input = h('input', {
          id, name: n.name, type: 'text', value: n.value || '', required: !!n.required,
          inputmode: n.inputmode || undefined, autocomplete: n.autocomplete || 'off', pattern: n.pattern || undefined,
          maxLength: n.maxlength || undefined, spellcheck: false, autocapitalize: n.uppercase ? 'characters' : 'off',
          class: n.uppercase ? 'upper' : '',
          'aria-describedby': [hintId, n.error ? errId : ''].filter(Boolean).join(' ') || undefined,
          'aria-invalid': n.error ? 'true' : undefined,
        });
        if (n.uppercase) input.addEventListener('input', () => { input.value = input.value.toUpperCase(); });
        const numeric = n.inputmode === 'numeric' && (n.maxlength || 0) > 0 && n.maxlength <= 8;
        items.push(h('div', { class: 'field' },
          h('label', { for: id }, n.label || n.name),
          n.hint ? h('p', { class: 'hint', id: hintId }, n.hint) : null,
          input, fieldErr, numeric ? keypad(input) : null));
        break;
      }
      case 'choice':
        if (onlyChoice) {
          items.push(h('div', { class: 'choices', role: 'group', 'aria-label': n.label || 'Choose one' },
            n.label ? h('p', { class: 'label' }, n.label) : null,
            (n.options || []).map((o) => h('button', {
              type: 'button', class: 'choice', dataset: { value: o },
              onclick: () => onAnswer({ [n.name]: o }),
            }, o)), fieldErr));
        } else {
          items.push(h('fieldset', { class: 'field' }, h('legend', {}, n.label || n.name),
            (n.options || []).map((o, i) => h('label', { class: 'radio' },
              h('input', { type: 'radio', name: n.name, value: o, required: !!n.required, checked: n.value === o || undefined, id: `f-${n.name}-${i}` }), ' ', o)),
            fieldErr));
        }
        break;
      case 'location':
        items.push(h('div', { class: 'location' }, h('p', { class: 'text' }, n.text || 'Share this phone\u2019s location.'), fieldErr));
        break;
      default:
        if (n.name) items.push(h('p', { class: 'error' }, 'This step needs a newer version of the app. Update the app (reload it), or go back to the web page.'));
        else if (n.text) items.push(h('p', { class: 'text' }, n.text));
    }
  }
  const actions = h('div', { class: 'actions' });
  if (!onlyChoice && !unanswerable(step)) {
    actions.append(h('button', { type: 'submit', class: 'primary' }, hasLocation ? 'Share location and continue' : 'Continue'));
  }
  actions.append(h('button', { type: 'button', class: 'deny', onclick: onDeny }, 'This wasn\u2019t me'));
  form.append(...items, actions);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (busy()) return;
    const values = {};
    for (const n of named) {
      if (n.kind === 'input') {
        const el = form.elements.namedItem(n.name);
        let v = el ? el.value.trim() : '';
        if (n.uppercase) v = v.toUpperCase();
        if (n.required && !v) {
          el.setAttribute('aria-invalid', 'true');
          el.focus();
          announce(`${n.label || n.name}: this field is required.`);
          return;
        }
        values[n.name] = v;
      } else if (n.kind === 'choice') {
        const el = form.querySelector(`input[name="${CSS.escape(n.name)}"]:checked`);
        if (!el && n.required) {
          announce(`${n.label || n.name}: choose one.`);
          return;
        }
        if (el) values[n.name] = el.value;
      } else if (n.kind === 'location') {
        values[n.name] = { location: true };
      }
    }
    onAnswer(values);
  });
  return form;
}

// setBusy disables (or enables) every button and field of form.
export function setBusy(root, on) {
  for (const el of root.querySelectorAll('button, input, textarea, select')) el.disabled = on;
  root.setAttribute('aria-busy', on ? 'true' : 'false');
}
