// The Tandem authenticator: pairs this phone with the server that serves
// the app (QR code, pasted link, or /d/{token} opened by the camera app),
// answers the steps of the phone's workflow, reads the push-mode inbox and
// removes registrations. See docs/device-protocol.md.

import { Device, ProblemError, get, paths, parsePairingURL, b64urlDecode } from './proto.js';
import * as store from './keys.js';
import { scan, cameraError } from './scan.js';
import { h, show, announce, contextCard, stepForm, setBusy, when, unanswerable } from './ui.js';

const main = document.getElementById('main');

// base is the server this app belongs to: the page's URL without /app/.
// The app talks to it only (the CSP's connect-src is 'self').
const base = location.origin + location.pathname.replace(/\/app\/[^/]*$/, '');

// Inbox long-poll wait, in seconds.
const inboxWait = 20;

let busy = false;
const pollers = new Map(); // credId → {stopped}
const prompts = new Map(); // verification id → {prompt, reg}
let wantedPrompt = ''; // a verification id a notification asked to open
let promptsBox = null; // the home view's list of waiting prompts

// setView names the screen on main (data-view, data-status), for styles
// and tests. Call it right before show, in the same task, so the name never
// describes the previous screen's content.
function setView(name, status = '') {
  main.dataset.view = name;
  if (status) main.dataset.status = status;
  else delete main.dataset.status;
}

// deviceName is what the server shows of this phone (protocol §4.1).
function deviceName() {
  const uad = navigator.userAgentData;
  let os = uad && uad.platform ? uad.platform : '';
  if (!os) {
    const ua = navigator.userAgent;
    os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows' : /Mac/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : 'Phone';
  }
  return `${os} browser (Tandem web app)`.slice(0, 100);
}

async function deviceFor(reg) {
  const key = await store.getKey(reg.keyId);
  if (!key) throw new Error('The key of this registration is missing; remove it and pair again.');
  return new Device({ base: reg.server, credId: reg.credId, privateKey: key.privateKey, publicKey: key.publicKey });
}

// explain turns an error into a sentence for the person.
function explain(e) {
  if (e instanceof ProblemError) {
    if (e.code === 'stale_request') return 'The server refused the request because this phone\u2019s clock is off. Check the date and time in the phone\u2019s settings.';
    if (e.code === 'rate_limited') return 'Too many requests. Wait a moment and try again.';
    return e.detail || e.message;
  }
  return (e && e.message) || String(e);
}

// ---- Home -----------------------------------------------------------

async function viewHome(note = '') {
  const regs = (await store.listRegistrations()).filter((r) => r.server === base);
  const pasteInput = h('input', { id: 'paste-link', name: 'link', type: 'url', inputmode: 'url', autocomplete: 'off', spellcheck: false, placeholder: `${base}/d/\u2026`, required: true });
  const paste = h('form', {
    class: 'paste', noValidate: true,
    onsubmit: (e) => { e.preventDefault(); if (pasteInput.value.trim()) pairWith(pasteInput.value); else pasteInput.focus(); },
  },
  h('label', { for: 'paste-link' }, 'No camera? Paste the link shown under the code'),
  pasteInput,
  h('button', { type: 'submit', class: 'secondary' }, 'Continue with this link'));
  promptsBox = h('section', { class: 'prompts', 'aria-label': 'Waiting for you', 'aria-live': 'polite' });
  setView('home');
  show(main,
    h('h2', {}, 'Confirm it\u2019s you'),
    note ? h('p', { class: 'note', role: 'status' }, note) : null,
    h('p', {}, 'When a web page shows a Tandem code, scan it with this app to continue on this phone.'),
    h('button', { type: 'button', class: 'primary', id: 'scan', onclick: () => viewScan() }, 'Scan the code'),
    promptsBox,
    paste,
    h('button', { type: 'button', class: 'link', id: 'devices', onclick: () => viewDevices() },
      regs.length ? `This phone\u2019s registrations (${regs.length})` : 'This phone\u2019s registrations'));
  renderPrompts();
  openWanted();
}

function renderPrompts() {
  if (!promptsBox || !promptsBox.isConnected) return;
  const now = Date.now() / 1000;
  const items = [...prompts.values()].filter((p) => p.prompt.expires_at > now);
  promptsBox.replaceChildren(...(items.length ? [h('h3', {}, 'Waiting for you')] : []),
    ...items.map(({ prompt, reg }) => h('article', { class: 'prompt card', dataset: { verification: prompt.verification_id } },
      contextCard(prompt.context),
      h('p', { class: 'hint' }, `Answer before ${when(prompt.expires_at)}.`),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'primary', onclick: () => acceptPrompt(reg, prompt.verification_id, false) }, 'Continue'),
        h('button', { type: 'button', class: 'deny', onclick: () => acceptPrompt(reg, prompt.verification_id, true) }, 'This wasn\u2019t me')))));
}

// ---- Scanning and pairing --------------------------------------------

let scanAbort = null;

async function viewScan() {
  setView('scan');
  const video = h('video', { class: 'preview', muted: true, playsInline: true, 'aria-label': 'Camera preview' });
  const hint = h('p', { class: 'hint' }, 'Point the camera at the code on the web page.');
  scanAbort = new AbortController();
  const signal = scanAbort.signal;
  show(main,
    h('h2', {}, 'Scan the code'),
    h('div', { class: 'viewfinder' }, video),
    hint,
    h('button', { type: 'button', class: 'secondary', onclick: () => { scanAbort.abort(); viewHome(); } }, 'Cancel'));
  announce('Starting the camera\u2026');
  try {
    const text = await scan(video, {
      signal,
      accept: (t) => { try { parsePairingURL(t); return true; } catch { return false; } },
      onDecoder: (name) => { main.dataset.decoder = name; announce('Camera on. Point it at the code.'); },
    });
    announce('Code read.');
    await pairWith(text);
  } catch (e) {
    if (e && e.name === 'AbortError') return;
    announce('');
    viewHome(cameraError(e));
  }
}

// pairWith pairs this phone with the token of a pairing link.
async function pairWith(link) {
  let p;
  try {
    p = parsePairingURL(link);
  } catch (e) {
    return viewMessage('error', 'That is not a Tandem code', e.message);
  }
  if (p.base !== base) {
    return viewMessage('error', 'This code is for another server',
      `The code belongs to ${p.base}. This app works with ${base} only. Open ${p.base}/app/ on this phone to continue there.`);
  }
  setView('pairing');
  show(main, h('h2', {}, 'Connecting\u2026'), h('p', {}, 'Pairing this phone with the web page.'));
  announce('Connecting to the server\u2026');
  let key;
  let dev;
  let s;
  try {
    key = await store.keyForServer(base);
    dev = new Device({ base, privateKey: key.privateKey, publicKey: key.publicKey });
    s = await dev.pair(p.token, deviceName(), 'web');
  } catch (e) {
    announce('');
    if (e.code === 'device_revoked' && key) {
      // The server refuses this key for good: the next pairing uses a new
      // one, which the server takes as a new phone.
      await store.retireKey(key.id);
      return viewMessage('error', 'This phone was removed from the account',
        `${explain(e)} To use it again, scan the code the web page shows now: the app pairs it as a new phone.`);
    }
    return viewMessage('error', 'This phone could not continue', explain(e));
  }
  const existing = await store.getRegistration(s.cred_id);
  const reg = {
    credId: s.cred_id, server: base, keyId: key.id, application: s.context.application,
    deviceName: deviceName(), pairedAt: existing ? existing.pairedAt : Date.now(), state: 'paired',
    pushEndpoint: existing ? existing.pushEndpoint : '',
  };
  await store.putRegistration(reg);
  startPoller(reg);
  announce('Paired.');
  viewSession(dev, s);
}

// ---- Steps ----------------------------------------------------------

function viewSession(dev, s) {
  if (s.status !== 'in_progress' || !s.step) return viewResult(dev, s);
  setView('session');
  const step = s.step;
  const form = stepForm(step, {
    busy: () => busy,
    onAnswer: (values) => answer(dev, s, form, values),
    onDeny: () => deny(dev, s, form),
  });
  show(main,
    h('h2', { id: 'step-title' }, step.display_name || 'Confirm'),
    contextCard(s.context),
    unanswerable(step) ? h('p', { class: 'error', role: 'alert' }, 'This app cannot answer this step. Update the app (reload it), or say it wasn\u2019t you.') : null,
    form);
  if (step.error) announce(step.error);
}

// readLocation takes a fresh, high-accuracy fix. The Geolocation API's
// accuracy is a 95 % radius (protocol §7: accuracy_kind "p95"), and the
// fix's own time is read_at.
function readLocation() {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) {
      reject(new Error('This browser cannot tell the phone\u2019s location.'));
      return;
    }
    navigator.geolocation.getCurrentPosition((p) => resolve({
      lat: p.coords.latitude,
      lon: p.coords.longitude,
      accuracy_m: p.coords.accuracy,
      accuracy_kind: 'p95',
      read_at: Math.floor(p.timestamp / 1000),
    }), (e) => {
      const msg = e.code === 1
        ? 'Location is blocked for this app. Allow location in the browser\u2019s site settings and try again, or say it wasn\u2019t you.'
        : e.code === 3 ? 'The phone took too long to find its location. Try again, outdoors or near a window if you can.'
          : 'The phone\u2019s location is not available. Turn on location services and try again.';
      reject(new Error(msg));
    }, { enableHighAccuracy: true, maximumAge: 0, timeout: 30000 });
  });
}

async function answer(dev, s, form, values) {
  if (busy) return;
  busy = true;
  setBusy(form, true);
  try {
    const out = {};
    for (const [k, v] of Object.entries(values)) {
      if (v && typeof v === 'object' && v.location) {
        announce('Reading this phone\u2019s location\u2026');
        out[k] = await readLocation();
      } else {
        out[k] = v;
      }
    }
    announce('Sending\u2026');
    const next = await dev.answer(s.verification_id, s.step.index, out);
    busy = false;
    announce('');
    viewSession(dev, next);
  } catch (e) {
    busy = false;
    await recover(dev, s, form, e);
  }
}

async function deny(dev, s, form) {
  if (busy) return;
  busy = true;
  setBusy(form, true);
  announce('Stopping this sign-in\u2026');
  try {
    const next = await dev.deny(s.verification_id, s.step.index);
    busy = false;
    viewResult(dev, next, true);
  } catch (e) {
    busy = false;
    await recover(dev, s, form, e);
  }
}

// recover shows an error of an answer: the session again when the step
// moved on, the end when the verification is over, or the error next to
// the form.
async function recover(dev, s, form, e) {
  if (e.code === 'wrong_step') {
    try {
      return viewSession(dev, await dev.session(s.verification_id));
    } catch (e2) {
      e = e2;
    }
  }
  if (['verification_ended', 'handover_taken', 'device_revoked', 'wrong_verification', 'unknown_credential'].includes(e.code)) {
    return viewMessage('failed', 'This request is over', explain(e));
  }
  setBusy(form, false);
  let alert = form.querySelector('.request-error');
  if (!alert) {
    alert = h('p', { class: 'error request-error', role: 'alert' });
    form.prepend(alert);
  }
  alert.textContent = explain(e);
  announce(explain(e));
}

// ---- Results ----------------------------------------------------------

async function viewResult(dev, s, denied = false) {
  const passed = s.status === 'passed';
  const title = passed ? 'Done' : denied ? 'Stopped' : 'Not confirmed';
  // The server's message after a denial is written for the web page; the
  // person who denied gets one written for them.
  const text = denied && !passed
    ? 'You said this wasn\u2019t you. The request was stopped, and the web page was told.'
    : s.message || (passed ? 'Done. Continue on the web page.' : 'This request was not confirmed.');
  const offer = passed ? await pushOffer() : null;
  setView('result', passed ? 'passed' : 'failed');
  show(main,
    h('h2', {}, title),
    h('p', { class: passed ? 'result ok' : 'result failed' }, text),
    offer,
    h('button', { type: 'button', class: offer ? 'secondary' : 'primary', onclick: () => viewHome() }, 'Back to the start'));
  announce(title);
}

function viewMessage(status, title, text) {
  setView('message', status);
  show(main,
    h('h2', {}, title),
    h('p', { class: status === 'error' || status === 'failed' ? 'result failed' : 'result' }, text),
    h('button', { type: 'button', class: 'primary', onclick: () => viewHome() }, 'Back to the start'));
  announce(title);
}

// ---- Push notifications ---------------------------------------------

function pushSupported() {
  return 'serviceWorker' in navigator && 'PushManager' in self && 'Notification' in self;
}

// pushOffer returns a card that asks for notifications, after a pairing,
// when the browser can push, the person was not asked yet and the server
// sends Web Push; otherwise null. Permission is asked only when the
// button is pressed (a user gesture).
async function pushOffer() {
  if (!pushSupported() || Notification.permission !== 'default') return null;
  if (await store.getSetting('push-offer-declined')) return null;
  let vapid;
  try {
    vapid = await get(base, paths.vapid);
  } catch {
    return null;
  }
  const card = h('section', { class: 'card push-offer', 'aria-labelledby': 'push-title' },
    h('h3', { id: 'push-title' }, 'Get a notification next time?'),
    h('p', {}, 'When a site asks this phone to confirm a sign-in, a notification can open this app at once. It says only that a request is waiting; no numbers or personal data.'),
    h('div', { class: 'actions' },
      h('button', {
        type: 'button', class: 'primary',
        onclick: async (e) => {
          setBusy(card, true);
          try {
            await enablePush(vapid.public_key);
            card.replaceChildren(h('p', { role: 'status' }, 'Notifications are on.'));
          } catch (err) {
            setBusy(card, false);
            card.append(h('p', { class: 'error', role: 'alert' }, explain(err)));
          }
        },
      }, 'Turn on notifications'),
      h('button', {
        type: 'button', class: 'secondary',
        onclick: async () => { await store.putSetting('push-offer-declined', true); card.remove(); announce('No notifications.'); },
      }, 'Not now')));
  return card;
}

async function enablePush(vapidKey) {
  const perm = await Notification.requestPermission();
  if (perm !== 'granted') throw new Error('Notifications are blocked. The app will still find requests when it is open.');
  const sw = await navigator.serviceWorker.ready;
  let sub = await sw.pushManager.getSubscription();
  if (!sub) sub = await sw.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64urlDecode(vapidKey) });
  await registerSubscription(sub);
}

// registerSubscription registers sub with every registration of this
// server that does not have it yet (protocol §8.1).
async function registerSubscription(sub) {
  const token = JSON.stringify(sub.toJSON());
  for (const reg of await store.listRegistrations()) {
    if (reg.server !== base || reg.pushEndpoint === sub.endpoint) continue;
    const dev = await deviceFor(reg);
    await dev.registerPush({ type: 'webpush', token });
    reg.pushEndpoint = sub.endpoint;
    await store.putRegistration(reg);
  }
}

// refreshPush registers the current subscription again when it changed
// (or a registration lacks it). It never asks for permission.
async function refreshPush() {
  if (!pushSupported() || Notification.permission !== 'granted') return;
  try {
    const sw = await navigator.serviceWorker.ready;
    const sub = await sw.pushManager.getSubscription();
    if (sub) await registerSubscription(sub);
  } catch {
    // The inbox still works without push.
  }
}

// ---- Inbox ------------------------------------------------------------

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function whenVisible() {
  return new Promise((r) => {
    const f = () => {
      if (document.visibilityState !== 'hidden') {
        document.removeEventListener('visibilitychange', f);
        r();
      }
    };
    document.addEventListener('visibilitychange', f);
  });
}

// startPoller reads the inbox of reg while the app is visible: a long
// poll, so a prompt shows up within a second of its arrival even without
// push notifications.
function startPoller(reg) {
  if (pollers.has(reg.credId)) return;
  const ctl = { stopped: false };
  pollers.set(reg.credId, ctl);
  (async () => {
    let dev;
    let backoff = 0;
    while (!ctl.stopped) {
      if (document.visibilityState === 'hidden') {
        await whenVisible();
        continue;
      }
      try {
        dev = dev || await deviceFor(reg);
        const r = await dev.inbox(inboxWait);
        backoff = 0;
        if (ctl.stopped) break;
        for (const [vid, p] of prompts) if (p.reg.credId === reg.credId) prompts.delete(vid);
        for (const p of r.prompts || []) prompts.set(p.verification_id, { prompt: p, reg });
        renderPrompts();
        openWanted();
        // The inbox answers at once while a prompt waits: do not ask
        // again at once.
        if ((r.prompts || []).length) await sleep(3000);
      } catch (e) {
        if (e.code === 'device_revoked' || e.code === 'unknown_credential') {
          reg.state = 'revoked';
          await store.putRegistration(reg);
          break;
        }
        backoff = Math.min(backoff ? backoff * 2 : 2000, 60000);
        await sleep(backoff);
      }
    }
    pollers.delete(reg.credId);
  })();
}

function stopPoller(credId) {
  const c = pollers.get(credId);
  if (c) c.stopped = true;
}

// openWanted accepts the prompt a notification asked to open, once the
// inbox has it and the app shows its start screen.
function openWanted() {
  if (!wantedPrompt || !prompts.has(wantedPrompt) || busy || main.dataset.view !== 'home') return;
  const vid = wantedPrompt;
  wantedPrompt = '';
  acceptPrompt(prompts.get(vid).reg, vid, false);
}

// acceptPrompt takes a push-mode prompt; with deny, "this wasn't me":
// accept it, then deny its first step (protocol §8).
async function acceptPrompt(reg, vid, denyIt) {
  if (busy) return;
  busy = true;
  announce('Opening the request\u2026');
  try {
    const dev = await deviceFor(reg);
    const s = await dev.accept(vid);
    prompts.delete(vid);
    busy = false;
    if (denyIt && s.step) {
      busy = true;
      const out = await dev.deny(s.verification_id, s.step.index);
      busy = false;
      return viewResult(dev, out, true);
    }
    viewSession(dev, s);
  } catch (e) {
    busy = false;
    prompts.delete(vid);
    viewMessage('failed', 'This request is not available', explain(e));
  }
}

// ---- Registrations ------------------------------------------------------

async function viewDevices() {
  const regs = await store.listRegistrations();
  const list = h('ul', { class: 'registrations' });
  for (const reg of regs) {
    const li = h('li', { class: 'card', dataset: { cred: reg.credId } });
    const remove = h('button', { type: 'button', class: 'deny remove' }, 'Remove this device');
    let armed = false;
    remove.addEventListener('click', async () => {
      if (!armed) {
        armed = true;
        remove.textContent = 'Tap again to remove';
        announce('Tap again to remove this phone from the account. It cannot be undone.');
        return;
      }
      setBusy(li, true);
      announce('Removing\u2026');
      try {
        const dev = await deviceFor(reg);
        await dev.revoke();
      } catch (e) {
        if (!['device_revoked', 'unknown_credential'].includes(e.code)) {
          setBusy(li, false);
          announce(explain(e));
          li.append(h('p', { class: 'error', role: 'alert' }, explain(e)));
          return;
        }
      }
      stopPoller(reg.credId);
      for (const [vid, p] of prompts) if (p.reg.credId === reg.credId) prompts.delete(vid);
      await store.removeRegistration(reg.credId);
      await viewDevices();
      announce('This phone was removed.');
    });
    li.append(
      h('h3', {}, reg.application || 'Tandem'),
      h('dl', {},
        h('dt', {}, 'Server'), h('dd', {}, reg.server),
        h('dt', {}, 'Paired'), h('dd', {}, when(Math.floor(reg.pairedAt / 1000))),
        h('dt', {}, 'Credential'), h('dd', { class: 'mono' }, reg.credId),
        reg.state === 'revoked' ? [h('dt', {}, 'State'), h('dd', {}, 'Removed by the server')] : null),
      remove);
    list.append(li);
  }
  setView('devices');
  show(main,
    h('h2', {}, 'This phone\u2019s registrations'),
    h('p', {}, regs.length
      ? 'Each site or account this phone confirms sign-ins for. Removing one tells the server to stop trusting this phone for it.'
      : 'This phone is not registered yet. Scan a code on a web page to pair it.'),
    list,
    h('button', { type: 'button', class: 'primary', onclick: () => viewHome() }, 'Back to the start'));
}

// ---- Start ------------------------------------------------------------

async function start() {
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('sw.js', { scope: './' }).catch(() => {});
    navigator.serviceWorker.addEventListener('message', (e) => {
      if (e.data && e.data.type === 'prompt' && typeof e.data.verification_id === 'string') {
        wantedPrompt = e.data.verification_id;
        openWanted();
      }
    });
  }
  // The hash carries a pairing token (from /d/{token}) or a prompt (from a
  // notification). It is removed from the address at once, so a reload or
  // a shared screenshot does not carry it.
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('pair');
  wantedPrompt = params.get('prompt') || '';
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);

  let regs = [];
  try {
    regs = await store.listRegistrations();
  } catch (e) {
    return viewMessage('error', 'The app cannot store its keys', `This browser does not let the app keep its keys (${explain(e)}). Private browsing may be the cause.`);
  }
  for (const reg of regs) if (reg.server === base && reg.state !== 'revoked') startPoller(reg);
  refreshPush();
  if (token) return pairWith(`${base}/d/${token}`);
  return viewHome();
}

start();
