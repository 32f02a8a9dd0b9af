// The interactive API reference. The page loads without a token; "Authorize" takes one and
// Swagger UI sends it as the Bearer header, so reading the document and trying calls follow
// the same auth rules as every other client.
"use strict";
window.addEventListener("load", () => {
  window.ui = window.SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
    requestInterceptor: (request) => {
      // The document itself needs a token too: reuse the one given to "Authorize".
      const auth = window.ui && window.ui.authSelectors.authorized().toJS();
      const value = auth && auth.bearer && auth.bearer.value;
      if (value && !request.headers.Authorization) {
        request.headers.Authorization = `Bearer ${value}`;
      }
      return request;
    },
  });
});
