// Live updates of a verification page. The page works without this
// module: it only makes the page move on by itself when the verification
// changes elsewhere, and guards forms against double posts.

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
