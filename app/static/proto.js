// The device protocol of docs/device-protocol.md, as the Go client in
// authenticator/client.go speaks it: ES256 JWS signed with WebCrypto, one
// single-use challenge per signed request, problem documents as errors,
// no redirects followed.

const enc = new TextEncoder();

// Paths of the device protocol, relative to the server's base URL.
export const paths = {
  pair: '/device/v1/pair',
  challenge: '/device/v1/challenge',
  session: '/device/v1/session',
  answer: '/device/v1/answer',
  inbox: '/device/v1/inbox',
  accept: '/device/v1/accept',
  push: '/device/v1/push',
  revoke: '/device/v1/revoke',
  vapid: '/device/v1/push/vapid-public-key',
};

// A kept challenge is not used in its last seconds: a request signed just
// in time could arrive too late.
const challengeMarginMs = 10_000;

// ProblemError is an error answer of the server (a problem+json body) or
// any answer that is not a success; code is the machine-readable reason
// ("" when the answer was not a problem document), detail is written for
// the person.
export class ProblemError extends Error {
  constructor(status, code, detail) {
    super(detail || code || `HTTP ${status}`);
    this.name = 'ProblemError';
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

// b64url encodes bytes (an ArrayBuffer or a typed array) as base64url
// without padding.
export function b64url(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// b64urlDecode decodes base64url (with or without padding) to bytes.
export function b64urlDecode(s) {
  const t = s.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(t + '='.repeat((4 - (t.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// publicJWK returns the public JWK of a P-256 public key as the pairing
// header carries it: kty, crv, x, y and nothing else.
export async function publicJWK(publicKey) {
  const j = await crypto.subtle.exportKey('jwk', publicKey);
  return { kty: j.kty, crv: j.crv, x: j.x, y: j.y };
}

// signJWS returns the compact JWS of payload (an object, sent as its JSON)
// with header, signed ES256 by privateKey. WebCrypto's ECDSA signature is
// already the 64-byte R || S that JWS needs.
export async function signJWS(privateKey, header, payload) {
  const input = b64url(enc.encode(JSON.stringify(header))) + '.' + b64url(enc.encode(JSON.stringify(payload)));
  const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, enc.encode(input));
  return input + '.' + b64url(sig);
}

// parsePairingURL splits a pairing link, {base}/d/{token} (the QR code's
// content), or the app's own {base}/app/#pair={token}, into the server's
// base URL and the token. It throws an Error that says what is wrong.
export function parsePairingURL(raw) {
  let u;
  try {
    u = new URL(String(raw).trim());
  } catch {
    throw new Error('This is not a link. Scan the code on the web page, or paste the link under it.');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new Error('This link is not a Tandem pairing link (it must start with https://).');
  }
  if (u.username || u.password || u.search) {
    throw new Error('This link is not a Tandem pairing link.');
  }
  let base;
  let token;
  const app = u.pathname.lastIndexOf('/app/');
  const hashToken = new URLSearchParams(u.hash.slice(1)).get('pair');
  if (hashToken && app >= 0 && u.pathname.slice(app) === '/app/') {
    base = u.pathname.slice(0, app);
    token = hashToken;
  } else {
    const i = u.pathname.lastIndexOf('/d/');
    if (i < 0 || u.hash) throw new Error('This link is not a Tandem pairing link ({server}/d/{code}).');
    base = u.pathname.slice(0, i);
    token = u.pathname.slice(i + 3);
  }
  if (!/^[A-Za-z0-9_-]{1,512}$/.test(token)) {
    throw new Error('This link holds no valid pairing code.');
  }
  return { base: `${u.protocol}//${u.host.toLowerCase()}${base}`, token };
}

// post sends body as JSON to base + path (+ "?" + query) and returns the
// decoded answer; any other answer throws a ProblemError. Redirects are
// refused: a device talks to its own server only.
export async function post(base, path, body, query = '') {
  return request('POST', base + path + (query ? `?${query}` : ''), body);
}

// get reads base + path as JSON, as post does.
export async function get(base, path) {
  return request('GET', base + path);
}

async function request(method, url, body) {
  let resp;
  try {
    resp = await fetch(url, {
      method,
      headers: body === undefined ? { Accept: 'application/json, application/problem+json' } : { 'Content-Type': 'application/json', Accept: 'application/json, application/problem+json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: 'error',
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
  } catch (e) {
    throw new ProblemError(0, 'network', 'The server cannot be reached. Check the connection and try again.');
  }
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) {
    if (data && (data.code || data.detail || data.title)) {
      throw new ProblemError(resp.status, data.code || '', data.detail || data.title || '');
    }
    throw new ProblemError(resp.status, '', `The server answered HTTP ${resp.status}.`);
  }
  if (data === null) throw new ProblemError(resp.status, '', 'The server answered something that is not JSON.');
  return data;
}

// Device speaks the protocol to one server (base) on behalf of one
// credential. It keeps the challenge of the last answer for its next
// signed request and fetches one when it has none, and retries once with
// a fresh challenge when a kept one is refused as used or expired.
export class Device {
  // base: the server's base URL; credId: the credential id ("" before
  // pairing); privateKey, publicKey: the device's CryptoKeys; now: a clock
  // in milliseconds (tests may replace it).
  constructor({ base, credId = '', privateKey, publicKey, now = () => Date.now() }) {
    this.base = base;
    this.credId = credId;
    this.privateKey = privateKey;
    this.publicKey = publicKey;
    this.now = now;
    this.challenge = '';
    this.challengeExp = 0;
  }

  iat() {
    return Math.floor(this.now() / 1000);
  }

  keep(challenge, expiresAt) {
    if (!challenge) return;
    this.challenge = challenge;
    this.challengeExp = expiresAt * 1000;
  }

  // take returns the kept challenge if it is still fresh, and forgets it.
  take() {
    const c = this.challenge;
    const fresh = this.now() + challengeMarginMs < this.challengeExp;
    this.challenge = '';
    this.challengeExp = 0;
    return fresh ? c : '';
  }

  // pair signs the pairing token with the device's key and returns the
  // session; it sets credId from the answer.
  async pair(token, deviceName, platform) {
    const jwk = await publicJWK(this.publicKey);
    const claims = { pairing_token: token, iat: this.iat() };
    if (deviceName) claims.device_name = deviceName;
    if (platform) claims.platform = platform;
    const jws = await signJWS(this.privateKey, { alg: 'ES256', jwk, typ: 'tandem-pair+jws' }, claims);
    const s = await post(this.base, paths.pair, { jws });
    if (typeof s.cred_id !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(s.cred_id)) {
      throw new ProblemError(200, '', 'The server answered an invalid credential id.');
    }
    this.credId = s.cred_id;
    this.keep(s.challenge, s.challenge_expires_at);
    return s;
  }

  // fetchChallenge gets a fresh challenge, bound to no verification.
  async fetchChallenge() {
    const r = await post(this.base, paths.challenge, { cred_id: this.credId });
    if (!r.challenge) throw new ProblemError(200, '', 'The server answered no challenge.');
    return r;
  }

  // signed sends claims (without cred_id, challenge and iat, which it
  // adds) to path and returns the answer, keeping its challenge.
  async signed(path, claims, query = '') {
    for (let attempt = 0; ; attempt++) {
      let ch = this.take();
      let fetched = false;
      if (!ch) {
        ch = (await this.fetchChallenge()).challenge;
        fetched = true;
      }
      const payload = { cred_id: this.credId, challenge: ch, ...claims, iat: this.iat() };
      const jws = await signJWS(this.privateKey, { alg: 'ES256', kid: this.credId, typ: 'tandem-device+jws' }, payload);
      try {
        const out = await post(this.base, path, { jws }, query);
        this.keep(out.challenge, out.challenge_expires_at);
        return out;
      } catch (e) {
        // A kept challenge may be used up, expired, or bound to another
        // verification (a session's): fetch a fresh one and try once more.
        const stale = e.code === 'challenge_invalid' || e.code === 'challenge_expired' || (e.code === 'wrong_verification' && e.status === 401);
        if (!fetched && attempt === 0 && stale) continue;
        throw e;
      }
    }
  }

  session(verificationId) {
    return this.signed(paths.session, { action: 'session', verification_id: verificationId });
  }

  // answer answers step (the prompt's index); values maps node names to a
  // string (input, choice) or a location object.
  answer(verificationId, step, values) {
    const claims = { action: 'answer', verification_id: verificationId, step };
    if (values && Object.keys(values).length > 0) claims.answer = values;
    return this.signed(paths.answer, claims);
  }

  // deny answers step with "this wasn't me", which fails the verification.
  deny(verificationId, step) {
    return this.signed(paths.answer, { action: 'deny', verification_id: verificationId, step });
  }

  // inbox reads the push-mode prompts, the server holding the request up
  // to waitSeconds for one to arrive.
  inbox(waitSeconds = 0) {
    return this.signed(paths.inbox, { action: 'inbox' }, `wait=${Math.max(0, Math.ceil(waitSeconds))}s`);
  }

  accept(verificationId) {
    return this.signed(paths.accept, { action: 'accept', verification_id: verificationId });
  }

  // registerPush registers how the server wakes this device: {type:
  // "webpush", token: the subscription's JSON}, or empty strings to clear.
  // A session's challenge is bound to its verification, so a fresh one is
  // used.
  registerPush(push) {
    this.take();
    return this.signed(paths.push, { action: 'push_register', push });
  }

  // revoke removes this device: the server revokes the credential and
  // refuses its later requests. It signs with a fresh challenge.
  revoke() {
    this.take();
    return this.signed(paths.revoke, { action: 'revoke' });
  }
}
