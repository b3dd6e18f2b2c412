// The preview frame: the real widget (/widget.js) runs here, but its API calls are
// answered from this page's data instead of the network, so nothing is recorded and the
// announcement need not be saved. Loaded before the widget script.
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("tidings-preview").textContent);
  const answer = (body, status) =>
    Promise.resolve(new Response(JSON.stringify(body), {
      status, headers: { "Content-Type": "application/json" },
    }));
  const realFetch = window.fetch.bind(window);
  window.fetch = (input, init) => {
    const url = new URL(typeof input === "string" ? input : input.url, location.href);
    if (!url.pathname.startsWith("/v1/widget/")) return realFetch(input, init);
    if (url.pathname.endsWith("/events")) return answer({ accepted: 0, duplicates: 0, rejected: [] }, 202);
    return answer(data.feed, 200);
  };
  navigator.sendBeacon = () => true;
  // The embed snippet's queue: a feed item is previewed in the opened feed panel.
  window.tidings = window.tidings || function () { (window.tidings.q = window.tidings.q || []).push(arguments); };
  window.tidings("identify", { user_id: "preview", locale: data.locale || undefined });
  window.tidings("theme", data.theme || "auto");
  if (data.open_feed) window.tidings("open");
})();
