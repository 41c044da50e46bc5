// The API reference at /docs: Swagger UI (npm swagger-ui-dist, copied into /static/vendor by `make web`)
// over this service's own /openapi.json. Nothing is loaded from another origin (the page's
// Content-Security-Policy forbids it), and the page takes no settings from its URL: no ?url= or
// ?configUrl= can point it at another document.
window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  queryConfigEnabled: false,
  deepLinking: false,
  persistAuthorization: false, // a key typed into "Authorize" stays in this page's memory only
  validatorUrl: null, // never send the document to the public validator
  withCredentials: false,
});
