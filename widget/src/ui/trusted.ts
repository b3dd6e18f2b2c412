// Trusted Types. A page that enforces them (`require-trusted-types-for 'script'`) lets
// HTML into the DOM only through a policy. The widget's one piece of HTML is the server's
// sanitized `body_html`, so its policy, named `tidings`, does nothing else; the host lists
// that name in its `trusted-types` directive. Without the policy (the name not allowed),
// a body is shown as its text rather than not at all.

type Policy = { createHTML(html: string): unknown };
const trustedTypes = (window as unknown as { trustedTypes?: { createPolicy(name: string, rules: object): Policy } })
  .trustedTypes;
let policy: Policy | null | undefined;

const asText = (html: string): string => {
  const text = html.replace(/<\/(p|li|h\d)>/g, '\n').replace(/<[^>]*>/g, '');
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (_, name: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[name]!).trim();
};

/** Puts the server's sanitized HTML into `el` (as text where the page forbids it). */
export const setBodyHtml = (el: HTMLElement, html: string): void => {
  if (policy === undefined) {
    try {
      policy = trustedTypes ? trustedTypes.createPolicy('tidings', { createHTML: (sanitized: string) => sanitized }) : null;
    } catch {
      policy = null;
    }
  }
  try {
    el.innerHTML = (policy ? policy.createHTML(html) : html) as string;
  } catch {
    el.textContent = asText(html);
    el.style.whiteSpace = 'pre-line';
  }
};
