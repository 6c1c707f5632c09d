// Swagger UI for the bridge's own API, from the bridge's own files.
// queryConfigEnabled: false — `?url=` and `?configUrl=` in the page's address are ignored,
// so a link can never make this page show (and send credentials to) another API.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    queryConfigEnabled: false,
    validatorUrl: null,
    deepLinking: true,
    displayOperationId: true,
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "BaseLayout"
  });
});
