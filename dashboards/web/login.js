// Sign-in: POST the credentials as JSON, then go where the user was headed — only to a path on this site.
// The texts come in the user's language (js/i18n.js), as on every other page.
import { loadI18n, t } from "./js/i18n.js";

const form = document.getElementById("login");
const error = document.getElementById("login-error");
const button = form.querySelector("button");

function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

loadI18n().then(() => {
  document.title = `${t("login.title")} — citywatch`;
  document.getElementById("login-intro").textContent = t("login.intro");
  document.querySelector("label[for=username]").textContent = t("login.username");
  document.querySelector("label[for=password]").textContent = t("login.password");
  button.textContent = t("login.title");
}).catch(() => { /* the English in the page stays */ });

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  error.textContent = "";
  button.disabled = true;
  const body = JSON.stringify({ username: form.username.value, password: form.password.value });
  try {
    const res = await fetch("/api/login", { method: "POST", headers: { "Content-Type": "application/json" }, body, credentials: "same-origin" });
    if (res.ok) {
      location.assign(nextPath());
      return;
    }
    const data = await res.json().catch(() => ({}));
    error.textContent = res.status === 429 ? t("login.too_many") : (data.error || t("login.failed", { status: res.status }));
  } catch (e) {
    error.textContent = t("login.unreachable");
  } finally {
    button.disabled = false;
  }
});
