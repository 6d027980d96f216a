// Starts Swagger UI on this app's own OpenAPI document. It is a file, not an inline script, so
// the page's Content-Security-Policy can allow scripts from the app alone.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    // relative to the page (/api/docs), so it works under any route prefix
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // every operation shows its operationId (the browser tests find each one on the page)
    displayOperationId: true,
    // the default sends the document to an outside validator and shows its badge
    validatorUrl: null,
  });
});
