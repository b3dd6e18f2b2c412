// Starts Swagger UI on /docs (a file of its own: the page's CSP allows no inline script).
window.addEventListener("DOMContentLoaded", () => {
  window.SwaggerUIBundle({
    url: document.body.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
  });
});
