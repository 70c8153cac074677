// Client-side routing with the History API. The server answers index.html
// for every path outside /api/ and /static/, so deep links and reloads work.

let renderCurrent = () => {};

/** Start routing: `render` draws whatever location.pathname names. */
export function startRouter(render) {
  renderCurrent = render;
  window.addEventListener("popstate", () => renderCurrent());
  document.addEventListener("click", interceptLinks);
  return renderCurrent();
}

/** Go to a path of the app (pushes a history entry unless `replace`). */
export function navigate(path, { replace = false } = {}) {
  const here = location.pathname + location.search + location.hash;
  if (replace) history.replaceState(null, "", path);
  else if (path !== here) history.pushState(null, "", path);
  return renderCurrent();
}

/** "/files/" and "/files" are the same route. */
export function currentPath() {
  const path = location.pathname.replace(/\/+$/, "");
  return path || "/";
}

function interceptLinks(event) {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target instanceof Element ? event.target.closest("a[href]") : null;
  if (!link) return;
  if ((link.target && link.target !== "_self") || link.hasAttribute("download")) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin) return;
  // The API (downloads) and static files are real server resources.
  if (/^\/(?:api|static)(?:\/|$)/.test(url.pathname)) return;
  // In-page anchors such as the skip link keep their native behaviour.
  if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
}
