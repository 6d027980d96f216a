// The first page's two requests, started before anything else of the page: the user's ECs
// (/me) and the first page of notices of the EC this browser showed last. A plain script at
// the top of <head>: it runs before the style sheet is parsed (deferred scripts wait for it),
// so the requests travel while the page is laid out. backoffice.js takes their answers.
"use strict";

(() => {
  const get = (path) => {
    const pending = fetch(`/api/bo/v1${path}`, { credentials: "same-origin" });
    pending.catch(() => {}); // whoever takes the answer reports a failure
    return pending;
  };
  const early = { me: get("/me"), search: null };
  let ec = null;
  try {
    ec = window.localStorage.getItem("centroStella.bo.ec");
  } catch {
    ec = null; // storage refused (privacy settings): no early search
  }
  if (ec && /^[0-9]{11}$/.test(ec)) {
    const path = `/ecs/${ec}/positions?pageSize=20`;
    early.search = { path, response: get(path) };
  }
  window.boEarly = early;
})();
