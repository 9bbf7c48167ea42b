// Live updates of a verification page. The page works without this
// module, except for sharing this computer's location: it makes the page
// move on by itself when the verification changes elsewhere, guards forms
// against double posts, and on a hand-over page shares this computer's
// location (when the phone's steps compare locations), counts down the QR
// code's lifetime, replaces the code before it expires, copies its link,
// and counts down the time left to answer on the phone.

const main = document.querySelector("main[data-events]");

if (main && "EventSource" in window) {
  const rendered = main.dataset.version;
  const events = new EventSource(main.dataset.events);
  events.addEventListener("state", (ev) => {
    let state;
    try {
      state = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (String(state.version) !== rendered) {
      events.close();
      // A GET of the page, not location.reload(): the page may be the
      // answer to a form post, which a reload would send again.
      location.replace(main.dataset.page);
      return;
    }
    if (state.done) {
      events.close();
    }
  });
}

for (const form of document.querySelectorAll("form[method=post]")) {
  form.addEventListener("submit", (ev) => {
    if (form.dataset.sending) {
      ev.preventDefault();
      return;
    }
    form.dataset.sending = "true";
    for (const button of form.querySelectorAll("button[type=submit]")) {
      button.disabled = true;
    }
  });
}

// A page restored from the back-forward cache gets its forms back.
window.addEventListener("pageshow", (ev) => {
  if (!ev.persisted) return;
  for (const form of document.querySelectorAll("form[method=post]")) {
    delete form.dataset.sending;
    for (const button of form.querySelectorAll("button[type=submit]")) {
      button.disabled = false;
    }
  }
});

// countdown shows in a <time class="countdown"> element the time left
// (m:ss) until `seconds` from now, updated every second, and calls
// onTick(left) with the whole seconds left after each update. It counts
// from the seconds the server gave, not from the element's datetime, so
// that a wrong clock on this computer does not matter. It returns reset,
// which restarts it from new seconds, and msLeft.
function countdown(time, seconds, onTick = () => {}) {
  let deadline = Date.now() + seconds * 1000;
  const tick = () => {
    const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    time.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    onTick(left);
  };
  tick();
  setInterval(tick, 1000);
  // Timers of a hidden tab are throttled: catch up when it is shown.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") tick();
  });
  return {
    reset(seconds) {
      deadline = Date.now() + seconds * 1000;
      tick();
    },
    msLeft: () => deadline - Date.now(),
  };
}

// The hand-over's QR code: a countdown, and a new code (from the
// data-pairing URL) shortly before the shown one expires.
const handover = document.querySelector("[data-pairing]");
if (handover && main) {
  const lead = 10_000; // fetch a new code this long before expiry (ms)
  const retry = 5_000;
  const img = handover.querySelector("img.qr");
  const link = handover.querySelector("#pairing-link");
  const time = handover.querySelector("time.countdown");
  const clock = countdown(time, Number(time.dataset.expiresIn), (left) => {
    handover.classList.toggle("qr-expired", left === 0);
  });
  let timer = 0;
  let fetching = false;

  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, Math.max(retry, clock.msLeft() - lead));
  };
  const refresh = async () => {
    if (fetching) return;
    fetching = true;
    try {
      const res = await fetch(handover.dataset.pairing, {
        headers: { Accept: "application/json" },
        cache: "no-store",
        credentials: "same-origin",
      });
      if (res.status === 409 || res.status === 403 || res.status === 404 || res.status === 410) {
        // No hand-over waits any more (a phone joined, the link
        // expired…): the page tells what happened.
        location.replace(main.dataset.page);
        return;
      }
      if (!res.ok) throw new Error(`status ${res.status}`);
      const p = await res.json();
      img.src = p.qr;
      link.value = p.url;
      time.dateTime = new Date(p.expires_at * 1000).toISOString().replace(".000Z", "Z");
      clock.reset(p.expires_in);
      schedule();
    } catch {
      // Offline or rate limited: try again soon; the countdown shows
      // the old code's time meanwhile.
      clearTimeout(timer);
      timer = setTimeout(refresh, retry);
    } finally {
      fetching = false;
    }
  };

  schedule();
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && clock.msLeft() <= lead) refresh();
  });
  window.addEventListener("pageshow", (ev) => {
    if (ev.persisted) refresh();
  });
}

// The time left to answer on the phone (a number prompt's deadline): a
// countdown, and a reload 1 s after it reaches zero, when the server ends
// the step as timed out. A page that is reloaded at zero and still shows
// the countdown (this computer's timers ran early) tries again a little
// later, at most 3 times for one deadline; then the page waits for the
// event stream (or a click on "check again").
for (const time of document.querySelectorAll(".deadline time.countdown")) {
  if (!main) break;
  const key = `tandem-deadline:${main.dataset.page}:${time.dateTime}`;
  let reloads = 0;
  try {
    reloads = Number(sessionStorage.getItem(key)) || 0;
  } catch {
    // Storage is off: every load counts as the first.
  }
  let scheduled = false;
  countdown(time, Number(time.dataset.expiresIn), (left) => {
    if (left > 0 || scheduled || reloads >= 3) return;
    scheduled = true;
    setTimeout(() => {
      try {
        sessionStorage.setItem(key, String(reloads + 1));
      } catch {
        // See above.
      }
      location.replace(main.dataset.page);
    }, 1000 + reloads * 2000);
  });
}

// Sharing this computer's location before the hand-over, when the phone's
// steps compare locations: the button reads it and posts it to the
// data-location URL; the page then shows the code to scan.
const locating = document.querySelector("[data-location]");
if (locating && main) {
  const button = locating.querySelector("button.share-location");
  const status = locating.querySelector(".location-status");
  const say = (text, problem = false) => {
    status.textContent = text;
    status.classList.toggle("location-problem", problem);
  };
  const fail = (text) => {
    say(text, true);
    button.textContent = "Try again";
    button.disabled = false;
  };
  const send = async (pos) => {
    say("Sending this computer's location…");
    let res;
    try {
      res = await fetch(locating.dataset.location, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
        body: JSON.stringify({
          lat: pos.coords.latitude,
          lon: pos.coords.longitude,
          accuracy_m: pos.coords.accuracy,
          age_ms: Math.max(0, Math.round(Date.now() - pos.timestamp)),
        }),
      });
    } catch {
      fail("This computer's location could not be sent. Check your internet connection, then try again.");
      return;
    }
    if (res.status === 204 || res.status === 409 || res.status === 403 || res.status === 404 || res.status === 410) {
      // Recorded (the page now shows the code), or nothing waits for a
      // location any more: the page tells what happened.
      if (res.status === 204) say("Location shared. Loading the code to scan…");
      location.replace(main.dataset.page);
      return;
    }
    if (res.status === 429) {
      fail("Too many tries. Wait a few seconds, then try again.");
      return;
    }
    // 422: the browser gave a reading out of range; anything else is a
    // problem on the server's side.
    fail("This computer's location could not be read. Check that location services are on, then try again.");
  };

  // The button, its status and its note are shown only when this module
  // runs; without it the page says that JavaScript is needed.
  locating.querySelector(".location-share").hidden = false;
  if (!("geolocation" in navigator) || !window.isSecureContext) {
    button.hidden = true;
    say("This browser cannot share this computer's location, so the next step cannot run here. Ask the site that sent you here for help.", true);
  } else {
    button.addEventListener("click", () => {
      if (button.disabled) return;
      button.disabled = true;
      say("Reading this computer's location…");
      navigator.geolocation.getCurrentPosition(send, (err) => {
        if (err.code === err.PERMISSION_DENIED) {
          fail("Location is blocked for this site. Allow location in your browser's site settings, then try again.");
        } else {
          // POSITION_UNAVAILABLE or TIMEOUT.
          fail("This computer's location could not be read. Check that location services are on, then try again.");
        }
      }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 });
    });
  }
}

// "Copy link" buttons; shown only when this module runs.
for (const button of document.querySelectorAll("button[data-copy]")) {
  const source = document.getElementById(button.dataset.copy);
  const status = button.closest(".field")?.querySelector(".copy-status");
  if (!source) continue;
  source.addEventListener("focus", () => source.select());
  let clear = 0;
  button.hidden = false;
  button.addEventListener("click", async () => {
    let copied = false;
    try {
      await navigator.clipboard.writeText(source.value);
      copied = true;
    } catch {
      source.focus();
      source.select();
      try {
        copied = document.execCommand("copy");
      } catch {
        copied = false;
      }
    }
    if (status) {
      status.textContent = copied ? "Link copied." : "Select the link and copy it.";
      clearTimeout(clear);
      clear = setTimeout(() => (status.textContent = ""), 5000);
    }
  });
}
