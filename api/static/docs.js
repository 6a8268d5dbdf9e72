// Starts Swagger UI on the API's own OpenAPI document; served from /schema/assets with the
// bundle itself (no CDN, nothing inline, so the page's CSP can forbid both).
window.addEventListener("load", function () {
  "use strict";
  window.ui = SwaggerUIBundle({
    url: "/schema/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
