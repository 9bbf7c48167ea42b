// The app's storage, in IndexedDB: device keys and registrations.
//
// A key is a WebCrypto ECDSA P-256 key pair generated with extractable
// false: the private CryptoKey itself is stored (IndexedDB keeps CryptoKey
// objects), so its bytes never reach JavaScript, let alone the network.
// The protocol asks for one key per server: a server recognises a device by
// its key. A registration is a credential id the server assigned at
// pairing, with what the app shows about it.
//
// Stores:
//   keys           {id (auto), server, privateKey, publicKey, createdAt, retired}
//   registrations  {credId, server, keyId, application, deviceName, pairedAt, state}
//   settings       {name, value}

export const dbName = 'tandem-authenticator';
const dbVersion = 1;

let dbPromise = null;

function open() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const req = indexedDB.open(dbName, dbVersion);
      req.onupgradeneeded = () => {
        const db = req.result;
        const keys = db.createObjectStore('keys', { keyPath: 'id', autoIncrement: true });
        keys.createIndex('server', 'server');
        const regs = db.createObjectStore('registrations', { keyPath: 'credId' });
        regs.createIndex('server', 'server');
        db.createObjectStore('settings', { keyPath: 'name' });
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error('The app is open in another tab that holds an older version; close it.'));
    });
  }
  return dbPromise;
}

// tx runs fn(stores) in one transaction over names and resolves to fn's
// result once the transaction has committed.
async function tx(names, mode, fn) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const t = db.transaction(names, mode);
    const stores = Object.fromEntries(names.map((n) => [n, t.objectStore(n)]));
    let result;
    Promise.resolve(fn(stores)).then((r) => { result = r; }, (e) => { t.abort(); reject(e); });
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error('storage transaction aborted'));
  });
}

function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

// newKeyPair generates a non-extractable ECDSA P-256 signing key pair.
export function newKeyPair() {
  return crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
}

// keyForServer returns the key of server (a base URL) that new pairings
// use, generating and storing one when there is none. Keys of revoked
// registrations are retired: a server refuses a revoked device's key, so
// pairing again needs a new one.
export async function keyForServer(server) {
  const all = await tx(['keys'], 'readonly', (s) => req(s.keys.index('server').getAll(server)));
  const cur = all.find((k) => !k.retired);
  if (cur) return cur;
  const pair = await newKeyPair();
  const rec = { server, privateKey: pair.privateKey, publicKey: pair.publicKey, createdAt: Date.now(), retired: false };
  rec.id = await tx(['keys'], 'readwrite', (s) => req(s.keys.add(rec)));
  return rec;
}

// getKey returns the key record with id, or undefined.
export function getKey(id) {
  return tx(['keys'], 'readonly', (s) => req(s.keys.get(id)));
}

// listRegistrations returns every registration, newest first.
export async function listRegistrations() {
  const all = await tx(['registrations'], 'readonly', (s) => req(s.registrations.getAll()));
  return all.sort((a, b) => b.pairedAt - a.pairedAt);
}

export function getRegistration(credId) {
  return tx(['registrations'], 'readonly', (s) => req(s.registrations.get(credId)));
}

// putRegistration stores (or replaces) a registration.
export function putRegistration(reg) {
  return tx(['registrations'], 'readwrite', (s) => req(s.registrations.put(reg)));
}

// removeRegistration deletes a registration and retires its key; a
// retired key that no registration uses any more is deleted.
export function removeRegistration(credId) {
  return tx(['registrations', 'keys'], 'readwrite', async (s) => {
    const reg = await req(s.registrations.get(credId));
    if (!reg) return;
    await req(s.registrations.delete(credId));
    const key = await req(s.keys.get(reg.keyId));
    if (!key) return;
    const users = await req(s.registrations.index('server').getAll(reg.server));
    if (users.some((r) => r.keyId === key.id)) {
      key.retired = true;
      await req(s.keys.put(key));
    } else {
      await req(s.keys.delete(key.id));
    }
  });
}

// retireKey marks a key retired (new pairings get a new key) and deletes
// it when no registration uses it.
export function retireKey(id) {
  return tx(['registrations', 'keys'], 'readwrite', async (s) => {
    const key = await req(s.keys.get(id));
    if (!key) return;
    const users = await req(s.registrations.index('server').getAll(key.server));
    if (users.some((r) => r.keyId === id)) {
      key.retired = true;
      await req(s.keys.put(key));
    } else {
      await req(s.keys.delete(id));
    }
  });
}

export async function getSetting(name) {
  const r = await tx(['settings'], 'readonly', (s) => req(s.settings.get(name)));
  return r ? r.value : undefined;
}

export function putSetting(name, value) {
  return tx(['settings'], 'readwrite', (s) => req(s.settings.put({ name, value })));
}
