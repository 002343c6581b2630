// The /docs page: Swagger UI (swagger-ui-dist, pinned in infra/docs_viewer.py) rendering
// the API's own description. Everything is relative to the page, so a stage prefix works.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: false,            // its `_` in operation anchors is deprecated (console error)
    validatorUrl: null,            // no third-party validator badge (the CSP allows 'self' only)
    persistAuthorization: false,
    tryItOutEnabled: false,
    defaultModelsExpandDepth: 0,
  });
});
