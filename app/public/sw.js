// MuMu's service worker: it exists for push notifications alone (docs/events.md, "Push
// notifications"). It caches nothing and never answers a fetch: the app is served by the
// server as always. The server serves this file at /sw.js (scope /) with `Cache-Control:
// no-cache`, so a new version is found at the next visit.
//
// A push carries the server's JSON (mumu_shared::push::PushNotification):
//   {"device_id": "...", "device_name": "Porch", "start": 1767224525000,
//    "url": "/watch?d=...&at=1767224525000"}
// The browser has decrypted it already (RFC 8291); it holds no picture.

'use strict';

// A new version takes over at once: it holds no state worth waiting for.
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

// When the event began, in the phone's own time and language.
function timeOf(start) {
  const when = new Date(start);
  const sameDay = new Date().toDateString() === when.toDateString();
  const time = when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return sameDay ? time : `${when.toLocaleDateString()} ${time}`;
}

// Only a page of this site is opened: a payload cannot send anyone elsewhere.
function sameSite(url) {
  try {
    const target = new URL(url, self.location.origin);
    return target.origin === self.location.origin ? target.href : self.location.origin + '/';
  } catch (_) {
    return self.location.origin + '/';
  }
}

// What the notification shows, from the payload (exported for the tests through `self`).
function notificationOf(payload) {
  const camera = typeof payload.device_name === 'string' && payload.device_name ? payload.device_name : 'A camera';
  const start = Number(payload.start);
  const at = Number.isFinite(start) ? timeOf(start) : '';
  return {
    title: `Motion: ${camera}`,
    options: {
      body: at ? `${camera} saw motion at ${at}` : `${camera} saw motion`,
      // One notification per camera: a new event replaces the older one, and still rings.
      tag: `mumu-${payload.device_id || 'camera'}`,
      renotify: true,
      timestamp: Number.isFinite(start) ? start : Date.now(),
      icon: '/icons/icon-192.png',
      badge: '/icons/icon-192.png',
      data: { url: sameSite(payload.url || '/') },
    },
  };
}

self.addEventListener('push', (event) => {
  let payload = {};
  try {
    payload = event.data ? event.data.json() : {};
  } catch (_) {
    // A push that is not the server's JSON still tells the person something happened.
  }
  const { title, options } = notificationOf(payload);
  event.waitUntil(self.registration.showNotification(title, options));
});

// Opens the event's page: a MuMu window already open goes there and comes forward, else a new
// one opens.
async function openEvent(url) {
  const target = sameSite(url);
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  for (const open of windows) {
    try {
      const moved = (await open.navigate(target)) || open;
      // Focus is the browser's to give (in answer to the click); the page has moved anyway.
      await moved.focus().catch(() => {});
      return moved;
    } catch (_) {
      // A window this worker does not control cannot be moved: the next, or a new one.
    }
  }
  return self.clients.openWindow(target);
}

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(openEvent((event.notification.data || {}).url || '/'));
});

// The push service renewed this browser's subscription: tell the server, with the cameras
// the old one had, and forget the old one. (Without a login the server refuses; the next
// "Notify me" subscribes again.)
self.addEventListener('pushsubscriptionchange', (event) => {
  event.waitUntil((async () => {
    const old = event.oldSubscription;
    const fresh = event.newSubscription ||
      (old && await self.registration.pushManager.subscribe(old.options));
    if (!fresh) return;
    const json = { credentials: 'same-origin', headers: { 'content-type': 'application/json' } };
    const mine = await fetch('/api/push/subscriptions', json).then((r) => (r.ok ? r.json() : []));
    const before = old && mine.find((s) => s.endpoint === old.endpoint);
    const body = { ...fresh.toJSON(), devices: before ? before.devices : undefined };
    await fetch('/api/push/subscriptions', { ...json, method: 'POST', body: JSON.stringify(body) });
    if (before) {
      await fetch(`/api/push/subscriptions/${encodeURIComponent(before.id)}`, { ...json, method: 'DELETE' });
    }
  })());
});

self.mumu = { notificationOf, openEvent };
