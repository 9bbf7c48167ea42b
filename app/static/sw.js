// The app's service worker: the offline shell and push notifications.
//
// The server writes VERSION (a hash of the app's files) and SHELL (the
// app's own files, relative to this worker) into this file when it serves
// it, so any change to the app installs a new worker with a new cache.
// Only the shell is cached: answers of the device protocol (/device/) and
// anything else pass through to the network untouched.

const VERSION = "__TANDEM_APP_VERSION__";
const SHELL = ["__TANDEM_APP_SHELL__"];
const CACHE = `tandem-app-${VERSION}`;

const shellURLs = new Set(SHELL.map((u) => new URL(u, self.registration.scope).href));

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL.map((u) => new Request(new URL(u, self.registration.scope), { cache: 'reload' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('tandem-app-') && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  url.hash = '';
  // Navigations to the app (any hash, e.g. #pair=…) get the cached page.
  const key = req.mode === 'navigate' && url.href === self.registration.scope ? self.registration.scope : url.href;
  if (!shellURLs.has(key) || url.search) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const hit = await cache.match(key);
    if (hit) return hit;
    return fetch(req);
  })());
});

// A push carries only ids: {"verification_id", "title", "body"} (protocol
// §8.1). It shows a notification; the app reads the prompt from its inbox.
self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const vid = typeof data.verification_id === 'string' ? data.verification_id : '';
  const title = typeof data.title === 'string' && data.title ? data.title : 'Tandem';
  const body = typeof data.body === 'string' && data.body ? data.body : 'A sign-in is waiting for you to confirm it on this phone.';
  event.waitUntil(self.registration.showNotification(title, {
    body,
    tag: vid || 'tandem',
    renotify: true,
    requireInteraction: true,
    icon: new URL('icons/icon-192.png', self.registration.scope).href,
    badge: new URL('icons/icon-192.png', self.registration.scope).href,
    data: { verification_id: vid },
  }));
});

// A click on the notification opens the app at the waiting prompt: an
// open window of the app is told (and focused), or a new one is opened.
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const vid = (event.notification.data && event.notification.data.verification_id) || '';
  const target = new URL(vid ? `./#prompt=${encodeURIComponent(vid)}` : './', self.registration.scope).href;
  event.waitUntil((async () => {
    const wins = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const w of wins) {
      if (w.url.startsWith(self.registration.scope)) {
        w.postMessage({ type: 'prompt', verification_id: vid });
        return w.focus();
      }
    }
    return self.clients.openWindow(target);
  })());
});
