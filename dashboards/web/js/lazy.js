// lazy is a view whose module loads on first use, so pages that never show it do not download its code (the
// site page's code budget). The view renders once the module has arrived, unless the user has left.

import { replace, errorBox } from "./dom.js";

export function lazy(load) {
  return {
    render(root, params, ctx) {
      let cleanup = null, gone = false;
      load().then((m) => { if (!gone) cleanup = m.render(root, params, ctx) || null; })
        .catch((e) => { if (!gone) replace(root, errorBox(e)); });
      return () => { gone = true; if (cleanup) cleanup(); };
    },
  };
}
