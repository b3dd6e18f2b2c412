// The console's own behaviour, progressive: every page works without it.
(() => {
  "use strict";

  // The browser's time zone, for the server to show engagement in it by default.
  try {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && !document.cookie.split("; ").includes(`tidings_tz=${zone}`)) {
      document.cookie = `tidings_tz=${zone}; path=/console; max-age=31536000; samesite=lax`;
    }
  } catch {
    // No Intl time zone: the pages use UTC.
  }

  // Menus (<details>) close on Escape and on a click elsewhere, as menus do.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    for (const menu of document.querySelectorAll("details.menu[open]")) {
      menu.open = false;
      menu.querySelector("summary")?.focus();
    }
  });
  document.addEventListener("click", (event) => {
    for (const menu of document.querySelectorAll("details.menu[open]")) {
      if (!menu.contains(event.target)) menu.open = false;
    }
  });

  // Buttons with data-confirm ask first (deleting a draft, revoking a key).
  document.addEventListener("submit", (event) => {
    const button = event.submitter;
    const question = button?.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // Copy buttons: data-copy names the element whose text goes to the clipboard.
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    try {
      await navigator.clipboard.writeText(source.value ?? source.textContent);
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = label; }, 1500);
    } catch {
      source.focus();
    }
  });

  // The editor's live preview: the form is posted into the preview frame (the "Refresh
  // preview" button does the same without script) a moment after each change.
  const refresh = document.getElementById("preview-submit");
  if (refresh && refresh.form) {
    let timer = 0;
    const later = () => {
      clearTimeout(timer);
      timer = setTimeout(() => refresh.form.requestSubmit(refresh), 600);
    };
    document.getElementById("editor-form")?.addEventListener("input", later);
    for (const input of document.querySelectorAll("[data-preview-input]")) {
      input.addEventListener("change", later);
    }
  }
})();
