// Live updates of a verification page. The page works without this
// module: it only makes the page move on by itself when the verification
// changes elsewhere, guards forms against double posts, and on a hand-over
// page counts down the QR code's lifetime, replaces the code before it
// expires and copies its link.

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

// The hand-over's QR code: a countdown, and a new code (from the
// data-pairing URL) shortly before the shown one expires.
const handover = document.querySelector("[data-pairing]");
if (handover && main) {
  const lead = 10_000; // fetch a new code this long before expiry (ms)
  const retry = 5_000;
  const img = handover.querySelector("img.qr");
  const link = handover.querySelector("#pairing-link");
  const time = handover.querySelector("time.countdown");
  let deadline = Date.now() + Number(time.dataset.expiresIn) * 1000;
  let timer = 0;
  let fetching = false;

  const tick = () => {
    const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    time.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    handover.classList.toggle("qr-expired", left === 0);
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, Math.max(retry, deadline - Date.now() - lead));
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
      deadline = Date.now() + p.expires_in * 1000;
      tick();
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

  tick();
  setInterval(tick, 1000);
  schedule();
  // Timers of a hidden tab are throttled: catch up when it is shown.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      tick();
      if (deadline - Date.now() <= lead) refresh();
    }
  });
  window.addEventListener("pageshow", (ev) => {
    if (ev.persisted) refresh();
  });
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
